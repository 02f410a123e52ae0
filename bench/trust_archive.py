"""The archive of ``bench/data/judged_queries.yaml``, built from packaged files only.

Photos from Debian's opencv-doc (``VIGIL_OPENCV_DOC_DIR`` or a cached ``dpkg -x``),
scikit-image and scikit-learn, 12 frames of vtest.avi, and the first two images of
each Fashion-MNIST test class; each part is a folder source of one workspace, indexed
with the object pass, so the bench runs the same code users do.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from vigil.settings import SamplingSettings, Settings
from vigil.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
JUDGED = ROOT / "bench" / "data" / "judged_queries.yaml"
VTEST = Path(os.environ.get("VIGIL_VTEST", "/work/shared/data/vtest.avi"))
FASHION_NAMES = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
    "ankle-boot",
)  # fmt: skip


def load_judged(path: Path = JUDGED) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def opencv_doc_dir(cache: Path) -> Path:
    """examples/data of Debian's opencv-doc: from the environment, or unpacked into ``cache``."""
    given = os.environ.get("VIGIL_OPENCV_DOC_DIR")
    if given:
        return Path(given)
    data = cache / "opencv-doc" / "usr/share/doc/opencv-doc/examples/data"
    if not data.exists():
        (cache / "opencv-doc").mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=cache, check=True)
        deb = sorted(cache.glob("opencv-doc_*.deb"))[-1]
        subprocess.run(["dpkg", "-x", str(deb), str(cache / "opencv-doc")], check=True)
    return data


def _write(path: Path, rgb: np.ndarray) -> None:
    if rgb.dtype == bool:
        rgb = rgb.astype(np.uint8) * 255
    elif rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    if rgb.shape[2] == 4:
        rgb = rgb[..., :3]
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))


def build_folders(cache: Path, judged: dict[str, Any]) -> dict[str, Path]:
    """Write the three image folders (idempotent) and return them by part name."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    folders = {part: cache / "archive" / part for part in ("photos", "vtest", "fashion")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    opencv = opencv_doc_dir(cache)
    sample = dict(zip(("china", "flower"), load_sample_images().images, strict=True))
    for name in judged["items"]["photos"]:
        target = folders["photos"] / name.rsplit(".", 1)[0]
        target = target.with_suffix(".png")
        if target.exists():
            continue
        if name.startswith("sk_"):
            _write(target, np.asarray(getattr(skimage.data, name[3:-4])()))
        elif name.startswith("sl_"):
            _write(target, sample[name[3:-4]])
        else:
            image = cv2.imread(str(opencv / name), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(opencv / name)
            cv2.imwrite(str(target), image)
    capture = cv2.VideoCapture(str(VTEST))
    for name in judged["items"]["vtest"]:
        target = folders["vtest"] / f"{name}.png"
        if target.exists():
            continue
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(name[2:]))
        ok, frame = capture.read()
        if not ok:
            raise RuntimeError(f"cannot read {name} from {VTEST}")
        cv2.imwrite(str(target), frame)
    capture.release()
    images, labels = _fashion_test()
    for class_index, class_name in enumerate(FASHION_NAMES):
        for k, position in enumerate(np.flatnonzero(labels == class_index)[:2]):
            target = folders["fashion"] / f"fm_{class_name}_{k}.png"
            if not target.exists():
                big = cv2.resize(images[position], (112, 112), interpolation=cv2.INTER_CUBIC)
                _write(target, big)
    return folders


def _fashion_test() -> tuple[np.ndarray, np.ndarray]:
    import gzip

    folder = Path(os.environ.get("VIGIL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    return images, labels


def item_key(name: str) -> str:
    """Judged names and archived files meet on the stem ('apple.jpg' and 'apple.png')."""
    return Path(name).stem


def open_archive(cache: Path, judged: dict[str, Any]) -> Workspace:
    """The indexed workspace (frames and objects), built on first use."""
    folders = build_folders(cache, judged)
    settings = Settings(home=cache / "workspace", sampling=SamplingSettings(dedup_threshold=0))
    workspace = Workspace.open(settings)
    known = {source.name for source in workspace.list_sources()}
    for part, folder in folders.items():
        if part not in known:
            workspace.add_source(str(folder), name=part)
    workspace.index(objects=True)
    return workspace


def query_image(source: str, cache: Path) -> np.ndarray:
    """RGB uint8 pixels of an image query of the judged set (``image_queries[].source``).

    ``opencv:<file>``, ``skimage:<function>``, ``vtest:<frame>`` or
    ``fashion:<class>:<k>`` (the k-th test image of that class), as the file's header says.
    """
    kind, _, rest = source.partition(":")
    if kind == "opencv":
        image = cv2.imread(str(opencv_doc_dir(cache) / rest), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(rest)
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if kind == "skimage":
        import skimage.data

        pixels = getattr(skimage.data, rest)()
        pixels = np.asarray(pixels[0] if isinstance(pixels, tuple) else pixels)
    elif kind == "vtest":
        capture = cv2.VideoCapture(str(VTEST))
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(rest))
        ok, frame = capture.read()
        capture.release()
        if not ok:
            raise RuntimeError(f"cannot read frame {rest} from {VTEST}")
        return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    elif kind == "fashion":
        name, _, k = rest.partition(":")
        images, labels = _fashion_test()
        position = np.flatnonzero(labels == FASHION_NAMES.index(name))[int(k)]
        pixels = cv2.resize(images[position], (112, 112), interpolation=cv2.INTER_CUBIC)
    else:
        raise ValueError(f"unknown image query source {source!r}")
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels.astype(np.float64), 0, 1) * 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return np.ascontiguousarray(pixels[..., :3])

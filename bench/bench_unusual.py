"""Evaluate "what is unusual here": frames of other real clips mixed into vtest's history.

vtest.avi is sampled at one frame per second (80 frames of the walkway). Two
short "visits" of other real clips are mixed into its timeline, as if the
camera had briefly seen something else: 5 frames of OpenCV's ``box.mp4`` at
30.0-30.8 s and 5 of ``cup.mp4`` at 60.0-60.8 s (handheld indoor clips from
Debian ``opencv-doc``; get them with ``apt-get download opencv-doc`` and
``dpkg -x opencv-doc_*.deb DIR``, then pass ``--opencv-doc DIR``). Every frame
is ranked by its distance from the others at least ``--gap`` seconds away
(``vigil.anomaly.unusual``), with the default image-text embedder's vectors
(what ``vigil index`` stores) and with Lite0 mid-level global features. The
ten foreign frames should rank at the top.

    .venv/bin/python bench/bench_unusual.py --opencv-doc /tmp/anomaly-cache/x
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
VTEST = Path(os.environ.get("VIGIL_SHARED_DATA", REPO.parent / "shared" / "data")) / "vtest.avi"


def frames_at(path: Path, times: list[float]) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    wanted = {round(t * fps) for t in times}
    found: dict[int, np.ndarray] = {}
    index = 0
    while len(found) < len(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            found[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return [found[i] for i in sorted(found)]


def clip(doc: Path, name: str, work: Path) -> Path:
    packed = next(doc.rglob(f"{name}.mp4.gz"))
    target = work / f"{name}.mp4"
    with gzip.open(packed, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--opencv-doc", type=Path, required=True, help="unpacked opencv-doc")
    parser.add_argument("--gap", type=float, default=5.0)
    args = parser.parse_args()

    from vigil.anomaly.features import PatchExtractor
    from vigil.anomaly.unusual import foreign_ranks
    from vigil.embedders.base import create_embedder
    from vigil.settings import EmbedderSettings

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        walkway = frames_at(VTEST, [float(t) for t in range(80)])
        box = frames_at(clip(args.opencv_doc, "box", work), [1.0 + 0.2 * i for i in range(5)])
        cup = frames_at(clip(args.opencv_doc, "cup", work), [1.0 + 0.2 * i for i in range(5)])
    images = walkway + box + cup
    times = np.array(
        [float(t) for t in range(len(walkway))]
        + [30.0 + 0.2 * i for i in range(len(box))]
        + [60.0 + 0.2 * i for i in range(len(cup))]
    )
    foreign = np.zeros(len(images), dtype=bool)
    foreign[len(walkway) :] = True
    print(
        f"{len(walkway)} vtest frames (1/s) + {len(box)} box.mp4 frames at 30 s + "
        f"{len(cup)} cup.mp4 frames at 60 s; gap {args.gap:g} s"
    )
    embedder = create_embedder(EmbedderSettings(name="auto"))
    for name, embed in [
        (embedder.model_id, lambda batch: embedder.embed_images(batch)),
        ("lite0-midlevel-global", lambda batch: PatchExtractor()(batch).mean(axis=1)),
    ]:
        started = time.perf_counter()
        vectors = np.concatenate([embed(images[i : i + 16]) for i in range(0, len(images), 16)])
        ranks = np.sort(foreign_ranks(vectors, times, foreign, gap_s=args.gap))
        found = int((ranks <= foreign.sum()).sum())
        print(
            f"{name}: foreign ranks {ranks.tolist()} of {len(images)}; "
            f"{found}/{foreign.sum()} in the top {foreign.sum()}; "
            f"median rank {float(np.median(ranks)):.0f} ({time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()

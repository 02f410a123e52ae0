"""The bundled classifier run by onnxruntime: converted once, cached, checked, with a fallback.

Why: on 2 shared CPU cores EfficientNet-Lite0 took 15-136 ms per image in torch
(erratic under load) and 8-12 ms in onnxruntime (issue 19). The weights ship as a
PyTorch state dict in a registry package and no ONNX file is committed, so the
graph is exported with ``torch.onnx.export`` the first time it is needed and kept
in the user's cache folder under a name that hashes the weights and this module's
converter version: new weights or a new export recipe never read an old file.
The file is written next to its final name and renamed into place (readers never
see half a file); one that does not load is deleted and exported again.

The exported graph returns both outputs the concept bridge needs from a single
pass: ImageNet-1k probabilities (softmax in the graph) and the pooled 1280-d
backbone features; the torch path computes the same two by the same formulas.

Threads: see ``DEFAULT_INTRA_OP_THREADS``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import ModelUnavailableError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Bump when the export recipe (graph outputs, opset, wrapper) changes: old files are ignored.
CONVERTER_VERSION = "1"
OPSET = 17

#: onnxruntime intra-op threads for both bundled networks: one. Measured with
#: ``bench/bench_embedders.py --compare-backends`` (32 vtest frames, batch 16, 5 rounds
#: interleaved on the 2 shared cores at load average 16-17): onnxruntime with 1 thread
#: 19.0 frames/s (median), with 2 threads 15.0; the old torch + cv2.dnn path 1.7 with
#: their default 2 threads and 4.5 with 1 thread each. A second thread only waits for a
#: core that other work holds, and in the indexing pipeline the decoding thread and the
#: object stage's worker need that core. Spinning is off for the same reason (a
#: spinning worker burns the core another stage needs). torch's and OpenCV's global
#: thread counts are left alone: they are process-wide, and the torch path now only
#: runs as the fallback or on CUDA. ``VIGIL_ONNX_THREADS`` overrides the count.
DEFAULT_INTRA_OP_THREADS = 1

_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGEST_LOCK = threading.Lock()
_EXPORT_LOCK = threading.Lock()


def onnxruntime_missing() -> str | None:
    """Why onnxruntime cannot be used here, or None when it can."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:  # a broken install raises ImportError subclasses too
        return f"onnxruntime is not importable ({error})"
    return None


def weights_digest(path: Path) -> str:
    """SHA-256 of a weights file, computed once per process per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _DIGEST_LOCK:
        digest = _DIGESTS.get(key)
        if digest is None:
            hasher = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    hasher.update(block)
            digest = hasher.hexdigest()
            _DIGESTS[key] = digest
    return digest


def intra_op_threads() -> int:
    """``VIGIL_ONNX_THREADS`` when set to a positive integer, else the measured default."""
    raw = os.environ.get("VIGIL_ONNX_THREADS", "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_INTRA_OP_THREADS


def classifier_onnx_path(cache_dir: Path, weights: Path) -> Path:
    """Where the ONNX export of ``weights`` lives: keyed by their hash and the recipe."""
    import torch

    digest = weights_digest(weights)[:16]
    torch_version = torch.__version__.split("+")[0]
    name = f"effnet-lite0-{digest}-c{CONVERTER_VERSION}-torch{torch_version}.onnx"
    return cache_dir / "onnx" / name


def _classifier_graph(model: torch.nn.Module) -> torch.nn.Module:
    """EfficientNet-Lite0 returning (probabilities, pooled features) from one pass."""
    import torch

    class _Both(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            extract: Any = getattr(self.inner, "extract_features")  # noqa: B009
            maps = extract(images)  # (N, 1280, 7, 7)
            pooled = maps.mean(dim=(2, 3))  # (N, 1280): the model's own average pooling
            fc: Any = getattr(self.inner, "_fc")  # noqa: B009 (dropout is off in eval)
            probabilities = torch.softmax(fc(pooled).float(), dim=-1)  # (N, 1000)
            return probabilities, pooled.float()

    return _Both(model).eval()


def export_classifier(model: torch.nn.Module, target: Path) -> None:
    """Export ``model`` to ``target`` atomically, then check it (ONNX checker + a run)."""
    import onnx
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        # The TorchScript exporter warns that it is deprecated (and traces with
        # TracerWarnings); the file is checked below and compared with torch in the
        # tests, so the chatter is silenced rather than shown to every first user.
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _classifier_graph(model),
                (torch.zeros(1, 3, 224, 224),),
                str(partial),
                dynamo=False,  # the TorchScript exporter: no onnxscript needed, runs offline
                input_names=["images"],
                output_names=["probabilities", "features"],
                dynamic_axes={"images": {0: "batch"}},
                opset_version=OPSET,
            )
        onnx.checker.check_model(str(partial))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@dataclass
class OnnxClassifier:
    """An onnxruntime session over the exported graph: images in, (probs, features) out."""

    path: Path
    session: Any

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, 224, 224) float32 in [-1, 1] -> (N, 1000) probabilities, (N, 1280) features."""
        probabilities, features = self.session.run(None, {"images": batch})
        return np.asarray(probabilities, np.float32), np.asarray(features, np.float32)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: the CLI's output stays clean
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_onnx_classifier(model: torch.nn.Module, weights: Path, cache_dir: Path) -> OnnxClassifier:
    """The cached export of ``weights`` (exported now when absent or unreadable), loaded."""
    missing = onnxruntime_missing()
    if missing is not None:
        raise ModelUnavailableError(missing)
    path = classifier_onnx_path(cache_dir, weights)
    with _EXPORT_LOCK:
        if path.exists():
            try:
                return OnnxClassifier(path, _session(path))
            except Exception as error:  # onnxruntime raises its own untyped errors
                log.warning(
                    "cached ONNX classifier %s is unreadable (%s): exporting again", path, error
                )
                path.unlink(missing_ok=True)
        try:
            export_classifier(model, path)
            return OnnxClassifier(path, _session(path))
        except Exception as error:
            raise ModelUnavailableError(
                f"cannot export EfficientNet-Lite0 to ONNX at {path}: {error}"
            ) from error


__all__ = [
    "CONVERTER_VERSION",
    "DEFAULT_INTRA_OP_THREADS",
    "OnnxClassifier",
    "classifier_onnx_path",
    "export_classifier",
    "intra_op_threads",
    "load_onnx_classifier",
    "onnxruntime_missing",
    "weights_digest",
]

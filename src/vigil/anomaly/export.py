"""Export an anomaly scorer for the edge: ONNX feature extractor + memory bank + model card.

What a device needs to score a part without Vigil: ``features.onnx`` (image in,
patch vectors out; the model card travels in its ``metadata_props`` under
``vigil.anomaly.card``), the bank as ``bank.npy`` and as a FAISS index
``bank.faiss``, and ``card.json`` (preprocessing, threshold, optional head).
The score is: the mean of the ``image_top_k`` largest patch L2 distances to
the nearest bank row (after the card's ``smoothing_sigma``; 0 = none).

The export checks itself before it is kept: the ONNX checker, then the
onnxruntime patch vectors against torch's on the given real images, then the
full score (onnxruntime + FAISS from the written files) against the in-process
score. Its latency (extract + score, one image, ``threads`` intra-op threads)
is measured on the written files and reported.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.anomaly.features import PatchExtractor, preprocess
from vigil.anomaly.patchcore import AnomalyModel, image_scores, patch_statistics, smooth
from vigil.errors import InvalidInputError, ModelUnavailableError

CARD_KEY = "vigil.anomaly.card"
INPUT_NAME = "image"
OUTPUT_NAME = "patches"
OPSET = 17
ATOL = 1e-3


@dataclass(frozen=True)
class EdgeExport:
    folder: Path
    onnx_path: Path
    bank_npy: Path
    bank_faiss: Path
    card_path: Path
    max_feature_diff: float  # torch vs onnxruntime patch vectors on the check images
    max_score_diff: float  # in-process score vs the exported files' score
    ms_per_image: float  # median wall time, extract + score, one image
    cpu_ms_per_image: float  # median CPU time of the same (all threads together)
    threads: int


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle pool threads would otherwise spin between runs: on a 2-core device that is
    # CPU taken from the other camera's scorer (measured: 2 spinning threads doubled the
    # CPU time per image without shortening it).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def score_with_files(
    folder: Path, images: list[np.ndarray], *, threads: int = 2
) -> tuple[np.ndarray, float, float]:
    """Scores of ``images`` using only the exported files (onnxruntime + FAISS + card).

    Returns the scores, the median wall milliseconds per image (extract + score)
    and the median CPU milliseconds per image (all threads; on a shared, loaded
    machine the wall time mostly measures the wait for a core, the CPU time
    does not).
    This is what a device runs; it reads nothing from Vigil's fitted objects.
    """
    import faiss

    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    session = _session(folder / "features.onnx", threads)
    index = faiss.read_index(str(folder / "bank.faiss"))
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)  # the search is the larger half of the time
    try:
        return _score_files(card, session, index, images)
    finally:
        faiss.omp_set_num_threads(before)


def _score_files(
    card: dict[str, Any], session: Any, index: Any, images: list[np.ndarray]
) -> tuple[np.ndarray, float, float]:
    head = card.get("head")
    scores = []
    times = []
    cpu = []
    for image in images:
        start = time.perf_counter()
        start_cpu = time.process_time()
        x = preprocess([image], int(card["input_size"]))
        maps = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]  # (1, D, g, g)
        patches = np.ascontiguousarray(maps[0].reshape(maps.shape[1], -1).T)  # (g*g, D)
        squared, _ = index.search(patches, 1)
        distances = smooth(
            np.sqrt(np.maximum(squared[:, 0], 0.0))[None, :],
            int(card["grid"]),
            float(card["smoothing_sigma"]),
        )
        if head:
            stats = (patch_statistics(distances) - np.asarray(head["mean"])) / np.asarray(
                head["scale"]
            )
            logit = float(stats[0] @ np.asarray(head["coef"]) + head["intercept"])
            scores.append(1.0 / (1.0 + np.exp(-logit)))
        else:
            scores.append(float(image_scores(distances, int(card["image_top_k"]))[0]))
        times.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    keep = slice(1, None) if len(times) > 1 else slice(None)  # the first run warms up
    return np.asarray(scores), float(np.median(times[keep])), float(np.median(cpu[keep]))


def export_edge(
    model: AnomalyModel,
    extractor: PatchExtractor,
    folder: Path,
    check_images: list[np.ndarray],
    *,
    threads: int = 2,
) -> EdgeExport:
    """Write and check the edge bundle in ``folder`` (replaced only once every check passed)."""
    import faiss
    import onnx
    import torch

    if not check_images:
        raise InvalidInputError("the export check needs at least one real image")
    if extractor.config != model.config:
        raise InvalidInputError("the extractor's recipe differs from the model's")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".anomaly-export-", dir=folder.parent))
    try:
        net = extractor.net
        x = preprocess(check_images, model.config.input_size)
        onnx_path = work / "features.onnx"
        with warnings.catch_warnings():
            # The TorchScript exporter announces its own deprecation in favour of dynamo,
            # which needs onnxscript; the graph it writes is checked below.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                net,
                (torch.from_numpy(x[:1]),),
                str(onnx_path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        card = model.card()
        proto = onnx.load(str(onnx_path))
        entry = proto.metadata_props.add()
        entry.key, entry.value = CARD_KEY, json.dumps(card)
        onnx.save(proto, str(onnx_path))
        try:
            onnx.checker.check_model(str(onnx_path), full_check=True)
        except onnx.checker.ValidationError as error:
            raise ModelUnavailableError(
                f"exported ONNX graph failed the checker: {error}"
            ) from error
        with torch.inference_mode():
            expected = net(torch.from_numpy(x)).numpy()
        got = _session(onnx_path, threads).run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        feature_diff = float(np.abs(expected - got).max())
        if feature_diff > ATOL:
            raise ModelUnavailableError(
                f"ONNX patch features differ from torch by {feature_diff:.2e} (> {ATOL})"
            )
        np.save(work / "bank.npy", model.bank)
        faiss.write_index(model.index, str(work / "bank.faiss"))
        (work / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
        edge_scores, ms, cpu_ms = score_with_files(work, check_images, threads=threads)
        own = np.array([item.score for item in model.score(check_images, extractor)])
        score_diff = float(np.abs(edge_scores - own).max())
        if score_diff > 1e-2 * max(1.0, float(np.abs(own).max())):
            raise ModelUnavailableError(
                f"scores from the exported files differ from the model's by {score_diff:.2e}"
            )
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return EdgeExport(
        folder=folder,
        onnx_path=folder / "features.onnx",
        bank_npy=folder / "bank.npy",
        bank_faiss=folder / "bank.faiss",
        card_path=folder / "card.json",
        max_feature_diff=feature_diff,
        max_score_diff=score_diff,
        ms_per_image=ms,
        cpu_ms_per_image=cpu_ms,
        threads=threads,
    )


__all__ = ["CARD_KEY", "EdgeExport", "export_edge", "score_with_files"]

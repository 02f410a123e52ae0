"""ONNX export that checks itself, INT8 static quantization, and file hashing.

A model is only worth registering when the file on disk computes what the torch
model computed: every export runs the ONNX checker and compares onnxruntime's
outputs with torch's on fixed inputs; the INT8 file is checked against its float
parent by agreement of the predicted classes (quantization changes logits by
design, so a tolerance on logits would be meaningless there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vigil.catalog.models_store import check_digest, ready_model
from vigil.catalog.store import Catalog
from vigil.distill.model_card import INPUT_NAME, OUTPUT_NAME, ModelCard, write_model_card
from vigil.errors import InvalidInputError, ModelUnavailableError

OPSET = 17
ATOL = 1e-3  # float export: torch vs onnxruntime logits, absolute
RTOL = 1e-3


@dataclass(frozen=True)
class ExportCheck:
    """What the self-check measured on the fixed inputs."""

    max_abs_diff: float
    inputs: int


def _session(path: Path, threads: int = 1) -> object:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, x: np.ndarray, *, threads: int = 1, batch_size: int = 256) -> np.ndarray:
    """Logits (N, C) of an ONNX classifier on normalised (N, 3, H, W) float32 inputs."""
    session = _session(path, threads)
    parts = [
        session.run([OUTPUT_NAME], {INPUT_NAME: x[i : i + batch_size]})[0]  # type: ignore[attr-defined]
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)


def export_onnx(
    model: nn.Module, card: ModelCard, path: Path, check_inputs: np.ndarray
) -> ExportCheck:
    """Write ``model`` with ``card`` in its metadata to ``path``, atomically, after checking it.

    The file is built under a temp name in the same folder and renamed only once the
    ONNX checker passed and onnxruntime's logits match torch's on ``check_inputs``
    within ``ATOL``/``RTOL``; a failed check raises and leaves nothing at ``path``.
    """
    import onnx

    height, width = card.input_size
    if check_inputs.ndim != 4 or check_inputs.shape[1:] != (3, height, width):
        raise InvalidInputError(
            f"check inputs must be (N, 3, {height}, {width}), got {check_inputs.shape}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    fd, name = tempfile.mkstemp(suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        dummy = torch.from_numpy(check_inputs[:1])
        with warnings.catch_warnings():
            # The TorchScript exporter announces its own deprecation in favour of dynamo,
            # which needs onnxscript; the graph it writes is what we check below.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                model,
                (dummy,),
                str(temp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        write_model_card(temp, card)
        onnx.checker.check_model(str(temp), full_check=True)
        with torch.inference_mode():
            expected = model(torch.from_numpy(check_inputs)).numpy()
        got = run_onnx(temp, check_inputs)
        diff = float(np.abs(expected - got).max())
        if not np.allclose(expected, got, atol=ATOL, rtol=RTOL):
            raise ModelUnavailableError(
                f"ONNX export does not match torch: max |logit diff| {diff:.2e}, expected within "
                f"atol={ATOL} rtol={RTOL} on {len(check_inputs)} fixed inputs"
            )
        os.replace(temp, path)
    except onnx.checker.ValidationError as error:
        raise ModelUnavailableError(f"exported ONNX graph failed the checker: {error}") from error
    finally:
        temp.unlink(missing_ok=True)
    return ExportCheck(max_abs_diff=diff, inputs=len(check_inputs))


class _Calibration:
    """Feeds normalised scenario images to onnxruntime's calibrator, one batch at a time."""

    def __init__(self, x: np.ndarray, batch_size: int = 32) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}

    def rewind(self) -> None:  # part of the CalibrationDataReader protocol; one pass suffices
        return None


def quantize_int8(
    float_path: Path,
    path: Path,
    calibration: np.ndarray,
    *,
    check_inputs: np.ndarray,
    min_agreement: float = 0.9,
    per_channel: bool = True,
    qdq: bool = True,
    card: ModelCard | None = None,
) -> float:
    """INT8 static quantization of ``float_path`` calibrated on scenario images.

    ``quant_pre_process`` (shape inference + graph optimisation, folding BN into the
    convs) runs first, then ``quantize_static`` with a MinMax calibrator over
    ``calibration`` (normalised (N, 3, H, W) float32). QDQ + per-channel weights is
    the format onnxruntime's CPU kernels fuse into integer convolutions. Returns
    the top-1 agreement with the float model on ``check_inputs``; below
    ``min_agreement`` the file is refused. The float model's card is carried over
    unless ``card`` is given.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    from vigil.distill.model_card import read_model_card

    card = card or read_model_card(float_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        prepared = Path(folder) / "prepared.onnx"
        quantized = Path(folder) / "int8.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # onnxruntime's "please run pre-processing" notes
            quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
            reader = _Calibration(calibration.astype(np.float32))
            assert isinstance(reader, object) and CalibrationDataReader is not None
            quantize_static(
                str(prepared),
                str(quantized),
                reader,  # type: ignore[arg-type]
                quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8 if not qdq else QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
        write_model_card(quantized, card)
        float_top = run_onnx(float_path, check_inputs).argmax(1)
        int8_top = run_onnx(quantized, check_inputs).argmax(1)
        agreement = float((float_top == int8_top).mean())
        if agreement < min_agreement:
            raise ModelUnavailableError(
                f"INT8 model agrees with its float parent on {agreement:.1%} of "
                f"{len(check_inputs)} inputs, expected at least {min_agreement:.0%}"
            )
        os.replace(quantized, path)
    return agreement


def export_model(catalog: Catalog, reference: int | str, destination: Path | str) -> Path:
    """Copy a ready model's ONNX file to ``destination``: a file when it ends in ``.onnx``,
    else a folder (created if needed) that receives ``<model name>.onnx``. ``./edge/``
    and ``./edge`` are both folders: a model file named ``edge`` would be a trap.

    The copy's SHA-256 must equal the registry's: a file changed on disk since it
    was registered is refused rather than handed out.
    """
    record = ready_model(catalog, reference, verify=False)  # the copy is checked below
    assert record.path is not None  # ready_model refuses a record without a file
    destination = Path(destination)
    is_file = destination.suffix.lower() == ".onnx" and not destination.is_dir()
    target = destination if is_file else destination / f"{record.name}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(record.path, temp)
    try:
        check_digest(record, temp)
    except InvalidInputError:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, target)
    return target


__all__ = [
    "ATOL",
    "OPSET",
    "ExportCheck",
    "export_model",
    "export_onnx",
    "quantize_int8",
    "run_onnx",
]

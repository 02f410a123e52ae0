"""The model card survives a round trip through an ONNX file and refuses foreign files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from vigil.distill.model_card import (
    INPUT_NAME,
    OUTPUT_NAME,
    ModelCard,
    ResizeMode,
    read_model_card,
    write_model_card,
)
from vigil.errors import InvalidInputError


@pytest.fixture
def mean_colour_model(tmp_path: Path) -> Path:
    """A two-class ONNX graph (global average pool + a fixed linear layer) that onnxruntime runs."""
    weights = helper.make_tensor(
        "weights", TensorProto.FLOAT, [3, 2], [1.0, -1.0, 0.0, 0.0, -1.0, 1.0]
    )
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", [INPUT_NAME], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], [OUTPUT_NAME]),
        ],
        "red_or_blue",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["n", 2])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


def _card(**changes: object) -> ModelCard:
    values: dict[str, object] = {
        "class_names": ("red", "blue"),
        "input_size": (8, 8),
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.5, 0.5),
        "resize": ResizeMode.LETTERBOX,
        "scenario": "paint",
        "scenario_version": 3,
        "architecture": "mean-colour",
        "extra": {"kind": "int8"},
    }
    values.update(changes)
    return ModelCard(**values)  # type: ignore[arg-type]


def test_round_trip_keeps_the_card_and_the_model_still_runs(mean_colour_model: Path) -> None:
    card = _card()
    write_model_card(mean_colour_model, card)
    assert read_model_card(mean_colour_model) == card
    # The input contract is spelled out for callers with nothing but onnxruntime.
    meta = (
        ort.InferenceSession(str(mean_colour_model), providers=["CPUExecutionProvider"])
        .get_modelmeta()
        .custom_metadata_map
    )
    assert (meta["vigil.layout"], meta["vigil.channel_order"]) == ("NCHW", "RGB")
    assert float(meta["vigil.pixel_scale"]) == 255.0 and meta["vigil.input_size_order"] == "HW"
    assert (meta["vigil.input_name"], meta["vigil.output_name"]) == (INPUT_NAME, OUTPUT_NAME)

    session = ort.InferenceSession(str(mean_colour_model), providers=["CPUExecutionProvider"])
    red = np.zeros((1, 3, 8, 8), np.float32)
    red[:, 0] = 1.0
    (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: red})
    assert card.class_names[int(np.argmax(logits[0]))] == "red"


def test_rewriting_replaces_the_old_card(mean_colour_model: Path) -> None:
    write_model_card(mean_colour_model, _card(extra={"kind": "float", "old": "yes"}))
    write_model_card(mean_colour_model, _card(scenario_version=4))
    card = read_model_card(mean_colour_model)
    assert card.scenario_version == 4
    assert card.extra == {"kind": "int8"}


def test_a_model_without_a_card_is_refused(mean_colour_model: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a Vigil classifier"):
        read_model_card(mean_colour_model)


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path, vtest_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a readable ONNX model"):
        read_model_card(vtest_path)
    with pytest.raises(InvalidInputError, match="no ONNX model"):
        read_model_card(tmp_path / "missing.onnx")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class_names": ()}, "at least one class"),
        ({"class_names": ("a", "a")}, "unique"),
        ({"input_size": (0, 8)}, "input_size"),
        ({"std": (0.5, 0.0, 0.5)}, "std > 0"),
        ({"channel_order": "BGR"}, "unsupported input contract"),
        ({"layout": "NHWC"}, "unsupported input contract"),
        ({"pixel_scale": 1.0}, "unsupported input contract"),
    ],
)
def test_invalid_cards_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _card(**changes)


def test_a_card_from_before_the_contract_keys_still_reads() -> None:
    """Models distilled before the layout/channel/scale keys followed the same contract."""
    contract = ("layout", "channel_order", "pixel_scale", "input_size_order")
    props = {
        key: value
        for key, value in _card().to_metadata().items()
        if key.removeprefix("vigil.") not in {*contract, "input_name", "output_name"}
    }
    assert ModelCard.from_metadata(props) == _card()

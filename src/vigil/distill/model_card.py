"""What a small Vigil model needs to be run correctly, stored inside its ONNX file.

The distiller writes it and the runtime reads it, so a model file is
self-describing: no side file can get lost or fall out of step with the weights.
It lives in the ONNX ``metadata_props`` under ``vigil.*`` keys (strings; lists
as JSON), and spells out everything a caller with nothing but onnxruntime needs:

- ``vigil.input_name`` = ``image``: float32, ``vigil.layout`` = ``NCHW`` (N, 3, H, W);
- ``vigil.input_size`` = ``[H, W]`` (``vigil.input_size_order`` = ``HW``: height first);
- ``vigil.channel_order`` = ``RGB`` (not OpenCV's BGR);
- ``vigil.pixel_scale`` = ``255``: divide uint8 pixels by it (to [0, 1]), then subtract
  ``vigil.mean`` and divide by ``vigil.std`` per RGB channel;
- ``vigil.resize``: how the frame becomes H x W (stretch, letterbox, center-crop);
- ``vigil.output_name`` = ``logits``: (N, C) raw scores, softmax gives probabilities,
  column i is ``vigil.class_names[i]``.

The README has a 20-line example that runs a model from these keys alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from vigil.errors import InvalidInputError

FORMAT = "vigil-classifier/1"
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
_PREFIX = "vigil."


class ResizeMode(StrEnum):
    STRETCH = "stretch"  # resize to H×W ignoring aspect ratio
    LETTERBOX = "letterbox"  # fit inside H×W, pad with the mean colour
    CENTER_CROP = "center-crop"  # resize the short side, then crop the centre


@dataclass(frozen=True)
class ModelCard:
    """Preprocessing, classes and provenance of one small model."""

    class_names: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]  # per RGB channel, on pixels scaled to [0, 1]
    std: tuple[float, float, float]
    resize: ResizeMode = ResizeMode.STRETCH
    scenario: str = ""
    scenario_version: int = 0
    architecture: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # The input contract, stated in the file for callers outside Vigil. Only these values
    # exist today; a card claiming others is refused rather than half-honoured.
    layout: str = "NCHW"
    channel_order: str = "RGB"
    pixel_scale: float = 255.0
    input_size_order: str = "HW"
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME

    def __post_init__(self) -> None:
        if not self.class_names:
            raise InvalidInputError("a model card needs at least one class name, got none")
        if len(set(self.class_names)) != len(self.class_names):
            raise InvalidInputError(f"class names must be unique, got {list(self.class_names)}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise InvalidInputError(
                f"input_size must be (height, width) > 0, got {self.input_size}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InvalidInputError(
                f"mean and std need 3 values each and std > 0, got {self.mean} and {self.std}"
            )
        contract = (
            self.layout,
            self.channel_order,
            self.pixel_scale,
            self.input_size_order,
            self.input_name,
            self.output_name,
        )
        supported = ("NCHW", "RGB", 255.0, "HW", INPUT_NAME, OUTPUT_NAME)
        if contract != supported:
            raise InvalidInputError(
                "unsupported input contract (layout, channels, pixel scale, size order, "
                f"input, output): expected {supported}, got {contract}"
            )

    def to_metadata(self) -> dict[str, str]:
        """The card as ONNX ``metadata_props`` key/value strings."""
        values = asdict(self)
        extra = values.pop("extra")
        props = {f"{_PREFIX}format": FORMAT}
        for key, value in values.items():
            props[_PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
        props.update({f"{_PREFIX}extra.{key}": value for key, value in extra.items()})
        return props

    @classmethod
    def from_metadata(cls, props: dict[str, str], *, where: str = "model") -> ModelCard:
        """Read a card back; a file without one is refused with the reason."""
        found = props.get(f"{_PREFIX}format")
        if found != FORMAT:
            raise InvalidInputError(
                f"{where} is not a Vigil classifier: metadata {_PREFIX}format is {found!r}, "
                f"expected {FORMAT!r}"
            )
        try:
            loaded: dict[str, Any] = {
                "class_names": tuple(json.loads(props[f"{_PREFIX}class_names"])),
                "input_size": tuple(json.loads(props[f"{_PREFIX}input_size"])),
                "mean": tuple(json.loads(props[f"{_PREFIX}mean"])),
                "std": tuple(json.loads(props[f"{_PREFIX}std"])),
                "resize": ResizeMode(props.get(f"{_PREFIX}resize", ResizeMode.STRETCH)),
                "scenario": props.get(f"{_PREFIX}scenario", ""),
                "scenario_version": int(json.loads(props.get(f"{_PREFIX}scenario_version", "0"))),
                "architecture": props.get(f"{_PREFIX}architecture", ""),
                # Cards written before these keys existed followed the same contract.
                "layout": props.get(f"{_PREFIX}layout", "NCHW"),
                "channel_order": props.get(f"{_PREFIX}channel_order", "RGB"),
                "pixel_scale": float(json.loads(props.get(f"{_PREFIX}pixel_scale", "255.0"))),
                "input_size_order": props.get(f"{_PREFIX}input_size_order", "HW"),
                "input_name": props.get(f"{_PREFIX}input_name", INPUT_NAME),
                "output_name": props.get(f"{_PREFIX}output_name", OUTPUT_NAME),
            }
        except (KeyError, ValueError, TypeError) as error:
            raise InvalidInputError(f"{where} has a damaged Vigil model card: {error}") from error
        extra_prefix = f"{_PREFIX}extra."
        loaded["extra"] = {
            key[len(extra_prefix) :]: value
            for key, value in props.items()
            if key.startswith(extra_prefix)
        }
        return cls(**loaded)


def read_model_card(path: Path) -> ModelCard:
    """The card of an ONNX file, read without loading the weights into a runtime."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError as error:
        raise InvalidInputError(f"no ONNX model at {path}") from error
    except Exception as error:  # protobuf's DecodeError and friends: not an ONNX file
        raise InvalidInputError(f"{path} is not a readable ONNX model: {error}") from error
    props = {entry.key: entry.value for entry in model.metadata_props}
    return ModelCard.from_metadata(props, where=str(path))


def write_model_card(path: Path, card: ModelCard) -> None:
    """Store the card in an existing ONNX file, replacing any earlier card."""
    import onnx

    model = onnx.load(str(path))
    kept = [entry for entry in model.metadata_props if not entry.key.startswith(_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.helper.set_model_props(
        model, {**{entry.key: entry.value for entry in kept}, **card.to_metadata()}
    )
    onnx.save(model, str(path))

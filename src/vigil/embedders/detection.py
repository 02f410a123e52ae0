"""One detection type: a box in ``xyxy`` pixels with its class and score.

Every box in Vigil is a ``Detection`` or extends one: the detector returns them,
``catalog.objects.NewObject`` adds the crop thumbnail to store, and
``catalog.objects.ObjectRecord`` adds the ids it was stored under. Other shapes come
in through ``from_*`` adapters (as supervision's ``Detections`` does), so nothing
downstream converts a box by hand.

>>> Detection.from_normalized((0.1, 0.2, 0.5, 0.9), width=640, height=480,
...                           label="person", score=0.8, class_id=1).xyxy
(64.0, 96.0, 320.0, 432.0)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vigil.errors import InvalidInputError

Box = tuple[float, float, float, float]  # x1 (left), y1 (top), x2 (right), y2 (bottom)


@dataclass(frozen=True)
class Detection:
    """One object found in an image, in that image's own pixel coordinates."""

    xyxy: Box  # left, top, right, bottom in pixels
    label: str  # COCO class name, e.g. "person"
    score: float  # detector confidence in [0, 1]
    class_id: int  # COCO id as numbered by the TF Object Detection API (1..90)

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.xyxy
        if not (x2 >= x1 and y2 >= y1):
            raise InvalidInputError(
                f"detection box must be left<=right, top<=bottom, got {self.xyxy}"
            )
        if not 0.0 <= self.score <= 1.0:
            raise InvalidInputError(f"detection score must be in [0, 1], got {self.score}")

    @classmethod
    def from_normalized(
        cls, box: Box, *, width: int, height: int, label: str, score: float, class_id: int
    ) -> Detection:
        """A detection from a box in [0, 1] image fractions (as SSD heads return them)."""
        x1, y1, x2, y2 = box
        pixels = (float(x1 * width), float(y1 * height), float(x2 * width), float(y2 * height))
        return cls(pixels, label, float(score), int(class_id))

    @property
    def box(self) -> Box:
        """The same ``xyxy`` box under the name the catalog's records first used."""
        return self.xyxy

    def scaled(self, scale_x: float, scale_y: float) -> Detection:
        """The same detection in an image resized by (``scale_x``, ``scale_y``)."""
        x1, y1, x2, y2 = self.xyxy
        return replace(self, xyxy=(x1 * scale_x, y1 * scale_y, x2 * scale_x, y2 * scale_y))


__all__ = ["Box", "Detection"]

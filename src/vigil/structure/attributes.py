"""Colour and brightness attributes of objects and frames, named in a fixed palette.

The image-text models behind search have no notion of colour (ImageNet and COCO
classes are colour-blind, and the concept bridge averages class names), so "a
red car" and "a white car" rank the same. Colours are therefore measured on the
pixels and stored as words: each pixel of an object crop is named with one of
eleven palette colours by fixed HSV rules, and the share of each name is kept for
the whole crop and for its upper and lower half (clothes for people, body and
wheels for vehicles). Only the central part of the crop counts: the box margin
and the box corners are mostly background.

Frames keep their mean brightness (what "at night" falls back to when the capture
time is unknown) and the colour shares of the whole picture (for colours of
things the detector has no class for: "a blue sky", "an orange flower").

These are rules, not a trained colour model: shadows, coloured light and small
crops (a pedestrian 20 pixels wide) make them wrong, which is why search uses
them as a soft factor and shows them in each hit's "why".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vigil.catalog.attributes_store import (
    PALETTE,
    frames_without_attributes,
    objects_without_colours,
    store_frame_attributes,
    store_object_colours,
)
from vigil.catalog.store import Catalog
from vigil.errors import CorruptMediaError, ImageTooLargeError, InvalidInputError
from vigil.sources.images import read_image

MIN_SHARE = 0.05  # shares below this are dropped before storing (noise)
_INNER = 0.6  # central share of the crop's width and height that is measured


@dataclass(frozen=True)
class ColourShares:
    """Palette colour -> share of pixels (only shares >= MIN_SHARE), for one region."""

    shares: dict[str, float]

    @property
    def dominant(self) -> str | None:
        return max(self.shares, key=lambda name: self.shares[name]) if self.shares else None


@dataclass(frozen=True)
class ObjectColours:
    """Colour shares of an object crop: whole (central part), upper and lower half."""

    whole: ColourShares
    upper: ColourShares
    lower: ColourShares


@dataclass(frozen=True)
class FrameLook:
    """Brightness (mean HSV value, 0..1) and colour shares of a whole frame."""

    brightness: float
    colours: ColourShares


def name_pixels(rgb: np.ndarray) -> np.ndarray:
    """Palette index per pixel of an (H, W, 3) uint8 RGB image -> (H, W) int8.

    OpenCV HSV: hue 0..180, saturation and value 0..255. Dark pixels are black
    whatever their hue; unsaturated ones grey or white; dim oranges are brown.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidInputError(
            f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}"
        )
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue, sat, val = (hsv[..., i].astype(np.int16) for i in range(3))
    names = np.full(hue.shape, PALETTE.index("grey"), dtype=np.int8)
    chromatic = (sat >= 60) & (val >= 60)
    hue_bands = (  # (upper hue bound, name), checked in order
        (10, "red"), (21, "orange"), (34, "yellow"), (85, "green"), (130, "blue"),
        (148, "purple"), (170, "pink"), (181, "red"),
    )  # fmt: skip
    lower = 0
    for bound, name in hue_bands:
        band = chromatic & (hue >= lower) & (hue < bound)
        names[band] = PALETTE.index(name)
        lower = bound
    brown = chromatic & (hue >= 5) & (hue < 25) & (val < 160)
    names[brown] = PALETTE.index("brown")
    names[~chromatic & (val >= 170) & (sat < 50)] = PALETTE.index("white")
    names[val < 55] = PALETTE.index("black")
    return names


def colour_shares(rgb: np.ndarray) -> ColourShares:
    """Share of each palette colour in an RGB image (shares below MIN_SHARE dropped)."""
    if rgb.size == 0:
        return ColourShares({})
    counts = np.bincount(name_pixels(rgb).ravel(), minlength=len(PALETTE)).astype(np.float64)
    total = max(float(counts.sum()), 1.0)
    return ColourShares(
        {
            PALETTE[i]: round(float(c) / total, 3)
            for i, c in enumerate(counts)
            if c / total >= MIN_SHARE
        }
    )


def object_colours(crop: np.ndarray) -> ObjectColours:
    """Colours of the central part of a crop, whole and by upper / lower half."""
    if crop.ndim != 3 or crop.shape[0] < 2 or crop.shape[1] < 1:
        raise InvalidInputError(f"crop must be an (H>=2, W, 3) RGB image, got {crop.shape}")
    height, width = crop.shape[:2]
    dx, dy = int(width * (1 - _INNER) / 2), int(height * (1 - _INNER) / 4)
    inner = crop[dy : height - dy, dx : width - dx] if width - 2 * dx >= 1 else crop
    middle = inner.shape[0] // 2
    return ObjectColours(
        whole=colour_shares(inner),
        upper=colour_shares(inner[:middle]),
        lower=colour_shares(inner[middle:]),
    )


def frame_look(rgb: np.ndarray) -> FrameLook:
    """Brightness and colour shares of a frame (a thumbnail is enough)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidInputError(
            f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}"
        )
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    return FrameLook(float(hsv[..., 2].mean()) / 255.0, colour_shares(rgb))


def backfill_attributes(
    catalog: Catalog, home: Path, frame_ids: Sequence[int] | None = None
) -> tuple[int, int]:
    """Measure and store colours of objects and frames that have none yet, from thumbnails.

    The object pass stores them as it goes; this fills archives indexed before,
    and search calls it on its candidate frames, so an old catalog gains colours
    the first time someone asks for one. Returns (frames, objects) measured.
    """
    frames = frames_without_attributes(catalog, frame_ids)
    looks = []
    for frame_id, relpath in frames:
        image = _read_rgb(home / relpath)
        if image is not None:
            look = frame_look(image)
            looks.append((frame_id, round(look.brightness, 4), look.colours.shares))
    if looks:
        store_frame_attributes(catalog, looks)
    crops = objects_without_colours(catalog, frame_ids)
    measured = []
    for object_id, relpath in crops:
        image = _read_rgb(home / relpath)
        if image is not None and image.shape[0] >= 2:
            colours = object_colours(image)
            measured.append((object_id, colour_regions(colours)))
    if measured:
        store_object_colours(catalog, measured)
    return len(looks), len(measured)


def colour_regions(colours: ObjectColours) -> dict[str, dict[str, float]]:
    """The stored form of an object's colours: shares per region name."""
    return {
        "whole": colours.whole.shares,
        "upper": colours.upper.shares,
        "lower": colours.lower.shares,
    }


def _read_rgb(path: Path) -> np.ndarray | None:
    """A stored thumbnail through the one guarded decoder; None when lost or unreadable."""
    try:
        return read_image(path)
    except (CorruptMediaError, ImageTooLargeError):
        return None  # nothing to measure: the attribute stays unknown

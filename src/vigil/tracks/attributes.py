"""What a finished track says about its object: colours, motion, a short trajectory.

All in image coordinates: without a calibration Vigil knows pixels, not metres,
so speed is pixels per second and direction is the angle of motion in the image
(0 degrees = to the right, 90 = down the image), measured at the box's bottom
centre (where a person or vehicle touches the ground).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vigil.catalog.tracks_store import TrajectoryPoint
from vigil.search.matching import appearance_descriptor

# Hue ranges on OpenCV's 0..179 scale, and what a person calls them.
_HUES: list[tuple[int, str]] = [
    (8, "red"),
    (20, "orange"),
    (33, "yellow"),
    (78, "green"),
    (100, "cyan"),
    (130, "blue"),
    (155, "purple"),
    (170, "pink"),
    (180, "red"),
]
MIN_SPEED_PX_S = 2.0  # below this a direction is noise, not motion


def colour_name(hsv: np.ndarray) -> str:
    """The dominant colour name of (N, 3) HSV pixels (OpenCV scale)."""
    if len(hsv) == 0:
        return "unknown"
    hue, sat, val = hsv[:, 0].astype(int), hsv[:, 1].astype(int), hsv[:, 2].astype(int)
    names = np.full(len(hsv), "", dtype=object)
    names[val < 50] = "black"
    grey = (names == "") & (sat < 45)
    names[grey & (val > 190)] = "white"
    names[grey & (val <= 190)] = "grey"
    chromatic = names == ""
    for upper, name in reversed(_HUES):
        names[chromatic & (hue < upper)] = name
    brownish = chromatic & (hue < 25) & (val < 150)
    names[brownish] = "brown"
    values, counts = np.unique(names.astype(str), return_counts=True)
    return str(values[int(np.argmax(counts))])


def colour_attributes(crops: Sequence[np.ndarray]) -> dict[str, Any]:
    """Upper and lower colour names, and the crops' mean appearance descriptor.

    Names use the central 60 % of each crop's width (the box edges are background).
    The descriptor is cross-camera matching's (``vigil.search.matching``), averaged
    over the track's crops, so tracks and single objects are compared alike.
    """
    uppers: list[np.ndarray] = []
    lowers: list[np.ndarray] = []
    for crop in crops:
        if crop.size == 0 or min(crop.shape[:2]) < 4:
            continue
        height, width = crop.shape[:2]
        centre = crop[:, int(width * 0.2) : max(int(width * 0.2) + 1, int(width * 0.8))]
        hsv = cv2.cvtColor(np.ascontiguousarray(centre), cv2.COLOR_RGB2HSV)
        uppers.append(hsv[int(height * 0.1) : int(height * 0.5)].reshape(-1, 3))
        lowers.append(hsv[int(height * 0.5) : int(height * 0.9)].reshape(-1, 3))
    if not uppers:
        return {"upper": "unknown", "lower": "unknown", "histogram": []}
    upper, lower = np.concatenate(uppers), np.concatenate(lowers)
    descriptor = np.mean(
        [appearance_descriptor(c) for c in crops if c.size and min(c.shape[:2]) >= 4], axis=0
    )
    return {
        "upper": colour_name(upper),
        "lower": colour_name(lower),
        "appearance": [round(float(v), 5) for v in descriptor],
    }


def motion(points: Sequence[TrajectoryPoint]) -> tuple[float, float | None]:
    """Speed (px/s) and direction (degrees) of the bottom centre, by a least-squares line.

    A fit over every point rather than first-to-last: one jittery box at either end
    does not decide the direction.
    """
    if len(points) < 2:
        return 0.0, None
    times = np.asarray([p[0] for p in points])
    if float(times[-1] - times[0]) <= 0:
        return 0.0, None
    xs = np.asarray([(p[1] + p[3]) / 2 for p in points])
    ys = np.asarray([p[4] for p in points])
    vx = float(np.polyfit(times, xs, 1)[0])
    vy = float(np.polyfit(times, ys, 1)[0])
    speed = math.hypot(vx, vy)
    if speed < MIN_SPEED_PX_S:
        return speed, None
    return speed, math.degrees(math.atan2(vy, vx)) % 360.0


def downsample(points: Sequence[TrajectoryPoint], max_points: int) -> list[TrajectoryPoint]:
    """At most ``max_points`` evenly spaced points, first and last always kept."""
    if len(points) <= max_points:
        return list(points)
    keep = np.unique(np.linspace(0, len(points) - 1, max_points).round().astype(int))
    return [points[int(i)] for i in keep]


def foot_point(box: Sequence[float]) -> tuple[float, float]:
    """Bottom centre of an x1, y1, x2, y2 box: where the object stands."""
    return (float(box[0]) + float(box[2])) / 2.0, float(box[3])

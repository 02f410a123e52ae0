"""Pictures of a source's tracks: presence heatmap, trajectories, counts over time.

All three are drawn from stored tracks (no video is decoded but one background
frame), in the source's own pixel coordinates, at each track's foot point.
Presence is *time*: each trajectory point adds the seconds until the next one,
so a person standing for a minute weighs as much as sixty people passing by.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from vigil.catalog.tracks_store import TrackRecord
from vigil.errors import CorruptMediaError, ImageTooLargeError, InvalidInputError, SourceError
from vigil.sources.images import read_image
from vigil.sources.readers import open_frames
from vigil.sources.types import Source, SourceKind
from vigil.tracks.attributes import foot_point
from vigil.tracks.zones import ZoneSet

HEATMAP_CELL_PX = 8  # presence is accumulated on a grid this coarse, then blurred


@dataclass(frozen=True)
class TimeBins:
    """Tracks counted by when they were first seen."""

    unit: str  # "hour" (capture time known and spanning hours) | "minute" | "media minute"
    labels: list[str]
    counts: dict[str, list[int]]  # class label -> count per bin


def presence_heatmap(tracks: list[TrackRecord], width: int, height: int) -> np.ndarray:
    """(H, W) float32 seconds of presence per pixel, smoothed; zero where nobody stood."""
    grid = np.zeros((height // HEATMAP_CELL_PX + 1, width // HEATMAP_CELL_PX + 1), np.float32)
    for track in tracks:
        points = track.trajectory
        for before, after in pairwise(points):
            x, y = foot_point(before[1:])
            column, row = int(x) // HEATMAP_CELL_PX, int(y) // HEATMAP_CELL_PX
            if 0 <= row < grid.shape[0] and 0 <= column < grid.shape[1]:
                grid[row, column] += max(0.0, after[0] - before[0])
    smooth = cv2.GaussianBlur(grid, (0, 0), sigmaX=1.5)
    heat: np.ndarray = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)
    return heat


def time_bins(tracks: list[TrackRecord]) -> TimeBins:
    """Counts per hour of capture time when known and the tracks span over two hours;
    per minute otherwise (per minute of media time when capture time is unknown)."""
    if not tracks:
        return TimeBins("minute", [], {})
    captured = [t.first_captured_at for t in tracks]
    if all(c is not None for c in captured):
        times = [c for c in captured if c is not None]
        span = max(times) - min(times)
        unit = "hour" if span > timedelta(hours=2) else "minute"
        fmt = "%Y-%m-%d %H:00" if unit == "hour" else "%H:%M"
        keys = [
            (
                c.replace(minute=0, second=0, microsecond=0)
                if unit == "hour"
                else c.replace(second=0, microsecond=0)
            )
            for c in times
        ]
        order = sorted(set(keys))
        labels = [k.strftime(fmt) for k in order]
        index = {k: i for i, k in enumerate(order)}
        positions = [index[k] for k in keys]
    else:
        unit = "media minute"
        minutes = [int(t.first_media_time // 60) for t in tracks]
        labels = [str(m) for m in range(max(minutes) + 1)]
        positions = minutes
    counts: dict[str, list[int]] = {}
    for track, position in zip(tracks, positions, strict=True):
        counts.setdefault(track.label, [0] * len(labels))[position] += 1
    return TimeBins(unit, labels, counts)


def background_frame(source: Source, home: Path, thumbnail: str | None = None) -> np.ndarray | None:
    """A frame of the source to draw on: its first frame, or a stored thumbnail for streams."""
    if source.kind != SourceKind.STREAM:
        try:
            with open_frames(source) as reader:
                for frame in reader:
                    return frame.image
        except SourceError:
            return None
    if thumbnail is not None:
        try:
            return read_image(home / thumbnail)
        except (CorruptMediaError, ImageTooLargeError):
            return None  # a lost or damaged thumbnail: draw on a plain background
    return None


def plot_tracks(
    tracks: list[TrackRecord],
    path: Path,
    *,
    background: np.ndarray | None = None,
    title: str = "",
    zones: ZoneSet | None = None,
) -> Path:
    """Heatmap, trajectories (over ``background``) and counts over time in one PNG."""
    if not tracks:
        raise InvalidInputError("no tracks to plot ('vigil tracks build SOURCE' first)")
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"plots are written as PNG, got {path.name!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = Counter((t.frame_width, t.frame_height) for t in tracks)
    (width, height), _ = sizes.most_common(1)[0]
    tracks = [t for t in tracks if (t.frame_width, t.frame_height) == (width, height)]
    if background is not None and background.shape[:2] != (height, width):
        background = cv2.resize(background, (width, height))
    heat = presence_heatmap(tracks, width, height)
    bins = time_bins(tracks)
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [4, 4, 3]})
    for panel in axes[:2]:
        if background is not None:
            panel.imshow(background)
        else:
            panel.imshow(np.full((height, width, 3), 235, np.uint8))
        panel.set_xlim(0, width)
        panel.set_ylim(height, 0)
        panel.set_xticks([])
        panel.set_yticks([])
        for zone in zones.zones if zones else []:
            xs, ys = zip(*[*zone.polygon, zone.polygon[0]], strict=True)
            panel.plot(xs, ys, color="yellow", linewidth=1.5)
        for line in zones.lines if zones else []:
            xs, ys = zip(*line.points, strict=True)
            panel.plot(xs, ys, color="magenta", linewidth=2)
    shown = np.ma.masked_less(heat, max(1e-6, float(heat.max()) * 0.02))
    image = axes[0].imshow(shown, cmap="inferno", alpha=0.6, extent=(0, width, height, 0))
    figure.colorbar(image, ax=axes[0], fraction=0.035, label="seconds present (smoothed)")
    axes[0].set_title(f"presence ({len(tracks)} tracks)", fontsize=10)
    colours = plt.get_cmap("tab20")
    for number, track in enumerate(tracks):
        xs, ys = zip(*[foot_point(p[1:]) for p in track.trajectory], strict=True)
        axes[1].plot(xs, ys, color=colours(number % 20), linewidth=1.2, alpha=0.9)
        axes[1].plot(xs[-1], ys[-1], marker="o", markersize=3, color=colours(number % 20))
    axes[1].set_title("trajectories (dot: last seen)", fontsize=10)
    bottom = np.zeros(len(bins.labels))
    for label, counts in sorted(bins.counts.items()):
        axes[2].bar(bins.labels, counts, bottom=bottom, label=label)
        bottom += np.asarray(counts)
    axes[2].set_title(f"tracks first seen per {bins.unit}", fontsize=10)
    axes[2].set_ylabel("tracks")
    axes[2].tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[2].legend(fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

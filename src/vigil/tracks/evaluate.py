"""Tracking quality with the standard CLEAR-MOT and identity metrics (``motmetrics``).

Two real, annotated sequences, measuring two different things:

- **TUD-Campus and TUD-Stadtmitte** (ground-truth pedestrian tracks shipped inside
  the ``motmetrics`` package; boxes only, no images). With no pixels there is no
  detector to run, so the tracker is fed *derived detections*: each ground-truth
  box is dropped with probability ``MISS_RATE``, its centre and size jittered by
  ``JITTER`` of its size (Gaussian), its confidence drawn uniformly in [0.5, 1];
  ``FALSE_POSITIVES_PER_FRAME`` boxes (Poisson) of a ground-truth box's size are
  added at random places with confidence in [0.3, 0.7]. The perturbation is seeded.
  This measures the tracker's association under a known detector noise, **not**
  the bundled detector.
- **vtest excerpt** (frames 500-540 of OpenCV's ``vtest.avi``, annotated by hand
  for Vigil, see ``data/vtest_500_540_keyframes.json``): seven people, two
  crossings with occlusion. The bundled SSD runs on the real frames and the
  tracker follows its boxes: this measures the whole tracking pass.

A hypothesis box matches a ground-truth box when IoU >= 0.5 (MOT Challenge).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from vigil.embedders.detector import CocoDetector
from vigil.errors import InvalidInputError, NotFoundError
from vigil.settings import TrackSettings
from vigil.sources.readers import open_frames
from vigil.sources.types import SourceKind, SourceSpec
from vigil.tracks.tracker import TrackerConfig, create_tracker, detections_from_coco

MISS_RATE = 0.10
JITTER = 0.05
FALSE_POSITIVES_PER_FRAME = 0.2
TUD_FPS = 25.0  # both TUD sequences were recorded at 25 frames per second
IOU_MATCH = 0.5
TUD_SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
VTEST_SEQUENCE = "vtest-500-540"
VTEST_FRAMES = range(500, 541, 2)
VTEST_FPS = 5.0

# {frame: [(track id, (x1, y1, x2, y2)), ...]}
Boxes = dict[int, list[tuple[int, tuple[float, float, float, float]]]]


@dataclass(frozen=True)
class TrackingScores:
    """Standard multi-object tracking figures for one sequence and tracker."""

    sequence: str
    tracker: str
    detections: str  # where the tracker's input boxes came from
    frames: int
    ground_truth_tracks: int
    mota: float
    idf1: float
    id_switches: int
    motp_iou: float  # mean IoU of matched pairs
    precision: float
    recall: float
    false_positives: int
    misses: int
    mostly_tracked: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_mot(path: Path) -> Boxes:
    """A MOT Challenge text file (frame, id, left, top, width, height, ...) as xyxy boxes."""
    boxes: Boxes = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            frame, track = int(float(fields[0])), int(float(fields[1]))
            left, top, width, height = (float(v) for v in fields[2:6])
        except (ValueError, IndexError):
            raise InvalidInputError(f"{path}:{number}: not a MOT line: {line!r}") from None
        boxes.setdefault(frame, []).append((track, (left, top, left + width, top + height)))
    return boxes


def write_mot(boxes: Boxes, path: Path) -> None:
    """MOT Challenge ground-truth lines (confidence 1, no 3-D position)."""
    lines = [
        f"{frame},{track},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},1,-1,-1,-1"
        for frame in sorted(boxes)
        for track, (x1, y1, x2, y2) in sorted(boxes[frame])
    ]
    path.write_text("\n".join(lines) + "\n")


def tud_ground_truth(sequence: str) -> Boxes:
    """Ground-truth tracks of a TUD sequence, read from the installed ``motmetrics``."""
    if sequence not in TUD_SEQUENCES:
        raise InvalidInputError(f"unknown sequence {sequence!r}; choose {', '.join(TUD_SEQUENCES)}")
    import motmetrics

    path = Path(motmetrics.__file__).parent / "data" / sequence / "gt.txt"
    if not path.is_file():
        raise NotFoundError(f"motmetrics ships no {path}; reinstall motmetrics")
    return read_mot(path)


def vtest_keyframes() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        files("vigil.tracks").joinpath("data/vtest_500_540_keyframes.json").read_text()
    )
    return data


def vtest_ground_truth() -> Boxes:
    """The hand-annotated vtest excerpt: keyframes interpolated, frames 1-based as in MOT."""
    boxes: Boxes = {}
    for person, entry in vtest_keyframes()["people"].items():
        keys = sorted((int(frame), box) for frame, box in entry["keyframes"].items())
        for (start, a), (end, b) in pairwise(keys):
            for frame in range(start, end + (1 if (end, b) == keys[-1] else 0)):
                if frame not in VTEST_FRAMES:
                    continue
                share = (frame - start) / (end - start)
                box = [float(p + (q - p) * share) for p, q in zip(a, b, strict=True)]
                x1, y1 = max(0.0, box[0]), max(0.0, box[1])
                x2, y2 = min(768.0, box[2]), min(576.0, box[3])
                boxes.setdefault(frame + 1, []).append((int(person), (x1, y1, x2, y2)))
        if len(keys) == 1:
            boxes.setdefault(keys[0][0] + 1, []).append((int(person), tuple(keys[0][1])))
    return boxes


def derived_detections(gt: Boxes, seed: int) -> dict[int, sv.Detections]:
    """Seeded noisy detections from ground truth (see the module docstring for the recipe)."""
    rng = np.random.default_rng(seed)
    out: dict[int, sv.Detections] = {}
    sizes = np.asarray([[b[2] - b[0], b[3] - b[1]] for rows in gt.values() for _, b in rows])
    extent = np.asarray([[b[2], b[3]] for rows in gt.values() for _, b in rows]).max(axis=0)
    for frame in sorted(gt):
        boxes: list[list[float]] = []
        scores: list[float] = []
        for _, (x1, y1, x2, y2) in gt[frame]:
            if rng.random() < MISS_RATE:
                continue
            width, height = x2 - x1, y2 - y1
            cx = (x1 + x2) / 2 + rng.normal(0, JITTER * width)
            cy = (y1 + y2) / 2 + rng.normal(0, JITTER * height)
            width *= 1 + rng.normal(0, JITTER)
            height *= 1 + rng.normal(0, JITTER)
            boxes.append([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2])
            scores.append(float(rng.uniform(0.5, 1.0)))
        for _ in range(rng.poisson(FALSE_POSITIVES_PER_FRAME)):
            width, height = sizes[rng.integers(len(sizes))]
            left = rng.uniform(0, max(1.0, extent[0] - width))
            top = rng.uniform(0, max(1.0, extent[1] - height))
            boxes.append([left, top, left + width, top + height])
            scores.append(float(rng.uniform(0.3, 0.7)))
        out[frame] = sv.Detections(
            xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            confidence=np.asarray(scores, dtype=np.float32),
            class_id=np.ones(len(boxes), dtype=int),
        )
    return out


def score_tracks(
    gt: Boxes, hypotheses: Boxes, *, sequence: str, tracker: str, detections: str
) -> TrackingScores:
    """CLEAR-MOT and identity metrics of ``hypotheses`` against ``gt`` over gt's frames."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    for frame in sorted(gt):
        truth = gt[frame]
        found = hypotheses.get(frame, [])
        iou = sv.box_iou_batch(
            np.asarray([b for _, b in truth], dtype=np.float64).reshape(-1, 4),
            np.asarray([b for _, b in found], dtype=np.float64).reshape(-1, 4),
        )  # (G, H)
        distance = np.where(iou >= IOU_MATCH, 1.0 - iou, np.nan)
        accumulator.update([t for t, _ in truth], [h for h, _ in found], distance)
    metrics = [
        "num_frames",
        "mota",
        "motp",
        "idf1",
        "num_switches",
        "precision",
        "recall",
        "num_unique_objects",
        "num_false_positives",
        "num_misses",
        "mostly_tracked",
    ]
    summary = mm.metrics.create().compute(accumulator, metrics=metrics, name=sequence)
    row = summary.iloc[0]
    return TrackingScores(
        sequence=sequence,
        tracker=tracker,
        detections=detections,
        frames=int(row["num_frames"]),
        ground_truth_tracks=int(row["num_unique_objects"]),
        mota=float(row["mota"]),
        idf1=float(row["idf1"]),
        id_switches=int(row["num_switches"]),
        motp_iou=1.0 - float(row["motp"]) if not np.isnan(row["motp"]) else 0.0,
        precision=float(row["precision"]),
        recall=float(row["recall"]),
        false_positives=int(row["num_false_positives"]),
        misses=int(row["num_misses"]),
        mostly_tracked=int(row["mostly_tracked"]),
    )


def evaluate_tud(sequence: str, *, tracker: str = "bytetrack", seed: int = 0) -> TrackingScores:
    """Association quality on a TUD sequence, fed seeded derived detections."""
    gt = tud_ground_truth(sequence)
    config = TrackerConfig(rate_fps=TUD_FPS, lost_after_s=1.0, activation_score=0.5)
    backend = create_tracker(tracker, config)
    hypotheses: Boxes = {}
    for frame, detections in derived_detections(gt, seed).items():
        tracked = backend.update(detections, frame / TUD_FPS)
        hypotheses[frame] = list(_rows(tracked))
    return score_tracks(
        gt,
        hypotheses,
        sequence=sequence,
        tracker=tracker,
        detections=(
            f"derived from ground truth (seed {seed}): {MISS_RATE:.0%} dropped, "
            f"{JITTER:.0%} jitter, {FALSE_POSITIVES_PER_FRAME} false positives/frame"
        ),
    )


def evaluate_vtest(
    video: Path, detector: CocoDetector, settings: TrackSettings, *, tracker: str | None = None
) -> TrackingScores:
    """The whole tracking pass (bundled SSD + tracker) on the hand-annotated vtest excerpt."""
    if not video.is_file():
        raise NotFoundError(f"vtest.avi not found at {video}")
    name = tracker or settings.tracker
    backend = create_tracker(
        name, TrackerConfig(VTEST_FPS, settings.lost_after_s, settings.activation_score)
    )
    gt = vtest_ground_truth()
    spec = SourceSpec(name="vtest", kind=SourceKind.VIDEO, location=str(video))
    wanted = set(VTEST_FRAMES)
    hypotheses: Boxes = {}
    # Start the tracker a second early, as the pass would be running already.
    warmup = set(range(VTEST_FRAMES.start - 10, VTEST_FRAMES.start, 2))
    with open_frames(spec, start_time=(VTEST_FRAMES.start - 12) / 10.0) as reader:
        for frame in reader:
            if frame.index not in wanted | warmup:
                continue
            found = detector.detect_batch([frame.image], settings.min_score)[0]
            kept = [
                d
                for d in found
                if d.label == "person"
                and min(d.xyxy[2] - d.xyxy[0], d.xyxy[3] - d.xyxy[1]) >= settings.min_box_px
            ]
            tracked = backend.update(detections_from_coco(kept), frame.media_time)
            if frame.index in wanted:
                hypotheses[frame.index + 1] = list(_rows(tracked))
            if frame.index >= VTEST_FRAMES.stop:
                break
    return score_tracks(
        gt,
        hypotheses,
        sequence=VTEST_SEQUENCE,
        tracker=name,
        detections=f"bundled SSD MobileNet v2 COCO on the frames (min score {settings.min_score})",
    )


def _rows(tracked: sv.Detections) -> Iterator[tuple[int, tuple[float, float, float, float]]]:
    if tracked.tracker_id is None:
        return
    for track_id, box in zip(tracked.tracker_id, tracked.xyxy, strict=True):
        yield int(track_id), (float(box[0]), float(box[1]), float(box[2]), float(box[3]))

"""Object structuring: detect objects in indexed frames, crop, embed and store each one.

It runs as a pass over frames already in the catalog, not inside frame indexing,
so an archive indexed earlier gains objects without being re-embedded, and a
killed run resumes from the scan marks (a frame scanned with no objects is marked
too, so it is not detected again). Files and folders are decoded again at the
stored frames: the detector and the crop embedder then see full-resolution
pixels. When frames and objects are indexed together (``index --objects``) the
same stage runs inside the frame pass instead (``ObjectPass.during_indexing``), on
the frames it has just decoded: one decode, and one SSD run with the concept
bridge, per sampled frame. Live streams cannot be re-read, so their objects are found on the stored
thumbnails (smaller objects are missed there).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from vigil.catalog.objects import (
    NewObject,
    ObjectVectors,
    ScannedFrame,
    add_scanned_frames,
    frames_to_scan,
)
from vigil.catalog.store import Catalog
from vigil.catalog.types import FrameRecord
from vigil.catalog.vector_index import VectorSearch
from vigil.embedders.base import Embedder
from vigil.embedders.detection import Detection
from vigil.embedders.detector import CocoDetector
from vigil.errors import CorruptMediaError, ImageTooLargeError, SourceError
from vigil.settings import ObjectSettings
from vigil.sources.images import read_image
from vigil.sources.readers import open_frames
from vigil.sources.types import Frame, Source, SourceKind
from vigil.structure.attributes import backfill_attributes
from vigil.structure.thumbnails import OBJECTS_DIR, write_thumbnail

CROP_THUMBNAIL_SIZE = 160


@dataclass
class ObjectIndexReport:
    """What one object pass over a source did."""

    source: Source
    frames_scanned: int = 0
    objects_stored: int = 0
    seconds: float = 0.0
    vectors_reused: int = 0  # boxes that repeat one of the previous frame: vector copied
    by_label: dict[str, int] = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return self.frames_scanned / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: ObjectIndexReport) -> None:
        """Count ``other`` (a later pass over the same source) into this report."""
        self.frames_scanned += other.frames_scanned
        self.objects_stored += other.objects_stored
        self.seconds += other.seconds
        self.vectors_reused += other.vectors_reused
        for label, count in other.by_label.items():
            self.by_label[label] = self.by_label.get(label, 0) + count


def object_thumbnail_relpath(source_id: int, frame_index: int, number: int) -> str:
    return f"{OBJECTS_DIR}/{source_id}/{frame_index:012d}_{number:02d}.jpg"


def crop_box(
    image: np.ndarray, box: tuple[float, float, float, float], margin: float
) -> np.ndarray:
    """The box plus ``margin`` of its size on each side, clipped to the image."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    pad_x, pad_y = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(width, int(np.ceil(x2 + pad_x))), min(height, int(np.ceil(y2 + pad_y)))
    return np.ascontiguousarray(image[top:bottom, left:right])


def keep_detection(found: Detection, settings: ObjectSettings) -> bool:
    x1, y1, x2, y2 = found.xyxy
    if min(x2 - x1, y2 - y1) < settings.min_box_px:
        return False
    return not settings.classes or found.label in settings.classes


class ObjectPass:
    """The object stage over one source: detect, crop, embed and store, batch by batch.

    ``index_objects`` feeds it frames decoded again from the catalog's records;
    ``during_indexing`` feeds it the frames the frame pass has just decoded, embedded
    and written, so each sampled frame is decoded once and (with the concept bridge,
    whose detector remembers what it saw) detected once.
    """

    def __init__(
        self,
        source: Source,
        *,
        catalog: Catalog,
        object_index: VectorSearch,
        embedder: Embedder,
        detector: CocoDetector,
        settings: ObjectSettings,
        home: Path,
    ) -> None:
        self.source = source
        self.catalog = catalog
        self.object_index = object_index
        self.embedder = embedder
        self.detector = detector
        self.settings = settings
        self.home = home
        self.report = ObjectIndexReport(source)
        self._vectors = ObjectVectors(catalog)
        # (box, label, vector) of the objects of the last scanned frame, for repeats.
        self._previous: list[tuple[tuple[float, float, float, float], str, np.ndarray]] = []

    def scan(self, batch: list[tuple[FrameRecord, np.ndarray]]) -> None:
        """Detect, crop, embed and store the objects of ``batch`` (frame order), in one write."""
        if not batch:
            return
        started = time.perf_counter()
        scanned, crops = _detect_and_crop(batch, self.detector, self.settings, self.home)
        vectors, self._previous, reused = _embed_or_reuse(
            scanned, crops, self._previous, self.embedder
        )
        report = self.report
        report.vectors_reused += reused
        new_ids = add_scanned_frames(
            self.catalog, self.embedder.model_id, self.detector.detector_id, scanned, vectors
        )
        if new_ids:
            # Read the vectors back by id: frames another run scanned meanwhile were
            # skipped with their objects, so the stored ones need not be a tail of ``vectors``.
            ids = np.asarray(new_ids, dtype=np.int64)
            stored = vectors if len(new_ids) == len(vectors) else self._vectors.get_vectors(ids)
            self.object_index.add(ids, stored)
        # Colours of the crops just written and brightness of their frames (search predicates).
        backfill_attributes(self.catalog, self.home, [item.frame.id for item in scanned])
        report.frames_scanned += len(scanned)
        report.objects_stored += len(new_ids)
        for item in scanned:
            for found in item.objects:
                report.by_label[found.label] = report.by_label.get(found.label, 0) + 1
        report.seconds += time.perf_counter() - started

    def during_indexing(self, frames: list[Frame]) -> None:
        """The hook ``index_source`` calls after writing a batch: scan the frames just stored.

        Only frames that have a vector for the embedder and no scan mark are scanned
        (a frame stored by an earlier run and scanned then is skipped), with the very
        arrays that were embedded, so the detector's memory answers for them.
        """
        images = {frame.index: frame.image for frame in frames}
        records = frames_to_scan(
            self.catalog,
            self.source.id,
            self.embedder.model_id,
            self.detector.detector_id,
            frame_indices=sorted(images),
        )
        pairs = [(record, images[record.frame_index]) for record in records]
        for start in range(0, len(pairs), self.settings.batch_size):
            self.scan(pairs[start : start + self.settings.batch_size])

    def finish(self) -> ObjectIndexReport:
        self.object_index.save()
        return self.report


class StageWorker:
    """Runs a stage's batches in one background thread, in order, one batch behind.

    With objects on, the frame pass embeds batch N+1 while this thread crops, embeds
    and stores the objects of batch N: on two cores each side keeps one busy (both
    networks run with one onnxruntime thread). The queue holds one batch, so memory
    stays bounded; an error in the stage is raised in the caller at its next
    ``submit`` or at ``close``.
    """

    def __init__(self, work: Callable[[list[Frame]], None], name: str = "vigil-objects") -> None:
        self._work = work
        self._queue: queue.Queue[list[Frame] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain: the caller hears of the first error
            try:
                self._work(item)
            except BaseException as error:  # handed to the caller's thread
                self._error = error

    def submit(self, frames: list[Frame]) -> None:
        self._raise()
        self._queue.put(list(frames))

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for every submitted batch; re-raise the stage's error if asked."""
        self._queue.put(None)
        self._thread.join()
        if raise_error:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def index_objects(
    source: Source,
    *,
    catalog: Catalog,
    object_index: VectorSearch,
    embedder: Embedder,
    detector: CocoDetector,
    settings: ObjectSettings,
    home: Path,
    max_frames: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ObjectIndexReport:
    """Detect, crop, embed and store the objects of a source's indexed, unscanned frames."""
    stage = ObjectPass(
        source,
        catalog=catalog,
        object_index=object_index,
        embedder=embedder,
        detector=detector,
        settings=settings,
        home=home,
    )
    started = time.perf_counter()
    todo = frames_to_scan(catalog, source.id, embedder.model_id, detector.detector_id)
    if max_frames is not None:
        todo = todo[:max_frames]
    if not todo:
        return stage.report
    batch: list[tuple[FrameRecord, np.ndarray]] = []
    for record, image in stored_frame_images(source, todo, home):
        batch.append((record, image))
        if len(batch) >= settings.batch_size:
            stage.scan(batch)
            batch = []
            if on_progress is not None:
                on_progress(stage.report.frames_scanned, len(todo))
    if batch:
        stage.scan(batch)
        if on_progress is not None:
            on_progress(stage.report.frames_scanned, len(todo))
    report = stage.finish()
    report.seconds = time.perf_counter() - started  # decoding included
    return report


REPEAT_IOU = 0.5  # a box overlapping one of the previous sampled frame this much repeats it


def _embed_or_reuse(
    scanned: list[ScannedFrame],
    crops: list[np.ndarray],
    previous: list[tuple[tuple[float, float, float, float], str, np.ndarray]],
    embedder: Embedder,
) -> tuple[np.ndarray, list[tuple[tuple[float, float, float, float], str, np.ndarray]], int]:
    """Crop vectors in object order, copying the vector of a box that repeats one of the
    previous sampled frame (same class, IoU >= ``REPEAT_IOU``) instead of embedding it.

    Parked cars and standing people repeat frame after frame (on vtest 42 % of the
    boxes, 95 % of parked cars): their crop is the same picture, so its vector is too.
    Returns the vectors, the last frame's (box, label, vector) and how many were copied.
    """
    # source[i]: index of the crop to embed for object i, or ("copy", earlier object / vector)
    plan: list[int | np.ndarray | tuple[int]] = []
    before: list[tuple[tuple[float, float, float, float], str, int | np.ndarray]] = [
        (box, label, vector) for box, label, vector in previous
    ]
    to_embed: list[int] = []
    position = 0
    for item in scanned:
        current: list[tuple[tuple[float, float, float, float], str, int | np.ndarray]] = []
        for found in item.objects:
            same = [(box, ref) for box, label, ref in before if label == found.label]
            source: int | np.ndarray | tuple[int] = position
            if same:
                overlap = sv.box_iou_batch(
                    np.asarray([found.box]), np.asarray([box for box, _ in same])
                )[0]  # (N,)
                best = int(np.argmax(overlap))
                if overlap[best] >= REPEAT_IOU:
                    ref = same[best][1]
                    source = ref if isinstance(ref, np.ndarray) else (ref,)
            if isinstance(source, int):
                to_embed.append(position)
            plan.append(source)
            current.append((found.box, found.label, position))
            position += 1
        before = current
    labels = [found.label for item in scanned for found in item.objects]
    embedded = embedder.embed_crops([crops[i] for i in to_embed], [labels[i] for i in to_embed])
    vectors = np.zeros((len(plan), embedder.dim), dtype=np.float32)
    rows = dict(zip(to_embed, embedded, strict=True))
    for index, source in enumerate(plan):
        if isinstance(source, int):
            vectors[index] = rows[source]
        elif isinstance(source, tuple):
            vectors[index] = vectors[source[0]]  # an earlier object of this batch
        else:
            vectors[index] = source  # an object of the previous batch
    last = [(box, label, vectors[ref]) for box, label, ref in before if isinstance(ref, int)]
    if not scanned:
        last = previous
    return vectors, last, len(plan) - len(to_embed)


def _detect_and_crop(
    batch: list[tuple[FrameRecord, np.ndarray]],
    detector: CocoDetector,
    settings: ObjectSettings,
    home: Path,
) -> tuple[list[ScannedFrame], list[np.ndarray]]:
    detections = detector.detect_batch([image for _, image in batch], settings.min_score)
    scanned: list[ScannedFrame] = []
    crops: list[np.ndarray] = []
    for (record, image), found in zip(batch, detections, strict=True):
        # Boxes are stored in the frame's own pixels, whatever resolution was decoded.
        scale_x = record.width / image.shape[1]
        scale_y = record.height / image.shape[0]
        objects: list[NewObject] = []
        for number, detection in enumerate(d for d in found if keep_detection(d, settings)):
            crop = crop_box(image, detection.xyxy, settings.crop_margin)
            relpath = object_thumbnail_relpath(record.source_id, record.frame_index, number)
            write_thumbnail(home, relpath, crop, CROP_THUMBNAIL_SIZE)
            objects.append(NewObject.from_detection(detection.scaled(scale_x, scale_y), relpath))
            crops.append(crop)
        scanned.append(ScannedFrame(record, objects))
    return scanned, crops


def stored_frame_images(
    source: Source, todo: list[FrameRecord], home: Path
) -> Iterator[tuple[FrameRecord, np.ndarray]]:
    """RGB pixels of stored frames (in frame order): decoded again from files and folders at
    full resolution, the stored thumbnails for streams (which cannot be re-read)."""
    todo = sorted(todo, key=lambda record: record.frame_index)
    if source.kind == SourceKind.STREAM:
        for record in todo:
            try:
                yield record, read_image(home / record.thumbnail_path)
            except (CorruptMediaError, ImageTooLargeError):
                continue  # thumbnail lost or replaced by something else: nothing to detect on
        return
    wanted = {record.frame_index: record for record in todo}
    last = max(wanted)
    with open_frames(source, start_time=todo[0].media_time) as reader:
        for frame in reader:
            if frame.index in wanted:
                yield wanted.pop(frame.index), frame.image
            if not wanted or frame.index > last:
                break
    if wanted:
        raise SourceError(
            f"source {source.name!r}: {len(wanted)} indexed frame(s) could not be decoded "
            f"again (first: frame {min(wanted)}); was the file changed?"
        )

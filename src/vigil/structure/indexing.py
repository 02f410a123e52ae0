"""The indexing pipeline: decode -> sample -> embed -> write (catalog, then vector index).

Why this order is safe to kill at any point:
- thumbnails are written first, at deterministic paths, so a re-run overwrites them;
- a batch of frames and their vectors is committed to the catalog in ONE transaction
  (the catalog is the source of truth and also stores the vectors);
- the vector index is a rebuildable cache, saved atomically every few batches and
  reconciled with the catalog when it is opened.
A re-run asks the catalog for the last frame it holds for this source and model,
seeks there and continues with the same sampling grid and de-duplication reference,
so it writes exactly the frames an uninterrupted run would have written, once.

Decoding runs in a producer thread that feeds a bounded queue while the model
works on the previous batch (torch and FFmpeg both release the GIL), so memory
stays bounded by the queue size whatever the length of the video.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.catalog.store import Catalog
from vigil.catalog.types import NewFrame, ProgressStatus
from vigil.catalog.vector_index import VectorSearch
from vigil.embedders.base import Embedder
from vigil.errors import SourceBusyError, SourceError
from vigil.settings import Settings
from vigil.sources.readers import (
    FrameReader,
    ReconnectingStreamReader,
    ReconnectPolicy,
    open_frames,
)
from vigil.sources.sampling import sample_frames
from vigil.sources.types import Frame, Source, SourceKind
from vigil.structure.locks import source_writer_lock
from vigil.structure.thumbnails import thumbnail_relpath, write_thumbnail

if TYPE_CHECKING:
    from vigil.structure.objects import ObjectIndexReport

# Saving writes the whole index file (1.5 GB at 1M vectors): do it on a timer, not per batch.
# Whatever is not saved yet is recovered from the catalog by sync_with_catalog.
SAVE_INDEX_EVERY_S = 60.0


@dataclass
class IndexProgress:
    """A snapshot handed to progress callbacks (the CLI draws a bar from it)."""

    source: Source
    media_time: float  # seconds of media already covered
    duration: float | None  # total seconds when known (files), None for streams
    frames_written: int


@dataclass
class IndexReport:
    """What one indexing run of one source did."""

    source: Source
    model_id: str
    resumed_from: float | None  # media time the run continued from, None for a fresh start
    frames_written: int = 0
    frames_already_indexed: int = 0
    seconds: float = 0.0
    complete: bool = False
    errors: list[str] = field(default_factory=list)
    # Stream health, the same fields as ``vigil run``'s: drops survived and their last cause.
    reconnects: int = 0
    corrupt_frames: int = 0
    last_error: str | None = None
    # Filled by ``Workspace.index(..., objects=True)``: the object pass that followed.
    objects: ObjectIndexReport | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0


_END = object()


def _produce(frames: Iterator[Frame], out: queue.Queue[object], stop: threading.Event) -> None:
    """Decode + sample in a background thread; hand frames (or the error) to the consumer."""
    try:
        for frame in frames:
            while not stop.is_set():
                try:
                    out.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_END)
    except BaseException as error:  # handed to the consumer thread, re-raised there
        out.put(error)


def _prefetched(frames: Iterator[Frame], depth: int) -> Iterator[Frame]:
    """Iterate ``frames`` with decoding running ``depth`` frames ahead in a thread."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(frames, buffer, stop), daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Frame)
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _stream_identity(frame: Frame) -> Frame:
    """Live streams restart their frame counter on reconnect; wall-clock ms is a stable id."""
    if frame.captured_at is None:
        raise SourceError("stream frame without a capture time cannot be identified")
    return replace(frame, index=int(frame.captured_at.timestamp() * 1000))


def index_source(
    source: Source,
    *,
    catalog: Catalog,
    vector_index: VectorSearch,
    embedder: Embedder,
    settings: Settings,
    max_frames: int | None = None,
    max_seconds: float | None = None,
    on_progress: Callable[[IndexProgress], None] | None = None,
    lock_wait_s: float = 0.0,
    on_batch: Callable[[list[Frame]], None] | None = None,
) -> IndexReport:
    """Index one source, continuing from where an earlier run stopped.

    ``max_frames`` / ``max_seconds`` bound a run (live streams never end by themselves).
    One process writes a source at a time: another run waits ``lock_wait_s`` seconds for
    it, then raises ``SourceBusyError`` naming the holder. ``on_batch`` gets each batch
    of decoded frames once they are committed (the object stage runs there, so frames
    are decoded once for both passes).
    """
    with source_writer_lock(Path(settings.home), source.id, wait_s=lock_wait_s):
        return _index_source_locked(
            source,
            catalog=catalog,
            vector_index=vector_index,
            embedder=embedder,
            settings=settings,
            max_frames=max_frames,
            max_seconds=max_seconds,
            on_progress=on_progress,
            on_batch=on_batch,
        )


def _index_source_locked(
    source: Source,
    *,
    catalog: Catalog,
    vector_index: VectorSearch,
    embedder: Embedder,
    settings: Settings,
    max_frames: int | None,
    max_seconds: float | None,
    on_progress: Callable[[IndexProgress], None] | None,
    on_batch: Callable[[list[Frame]], None] | None = None,
) -> IndexReport:
    started = time.perf_counter()
    model_id = embedder.model_id
    is_stream = source.kind == SourceKind.STREAM
    last = None if is_stream else catalog.last_indexed_frame(source.id, model_id)
    report = IndexReport(source, model_id, resumed_from=last.media_time if last else None)
    catalog.set_progress(source.id, model_id, status="running", settings=settings.sampling)

    last_save = time.perf_counter()
    stopped_early = False
    deadline = None if max_seconds is None else started + max_seconds

    def wait(seconds: float) -> bool:
        """Sleep between reconnect tries; True (stop) once the run's time is up."""
        if deadline is None:
            time.sleep(seconds)
            return False
        time.sleep(max(0.0, min(seconds, deadline - time.perf_counter())))
        return time.perf_counter() >= deadline

    # A dropped stream is reopened like ``vigil run`` does (one policy), except that an
    # address that never answers fails at once instead of being retried for hours.
    policy = ReconnectPolicy(
        base_delay_s=settings.runtime.reconnect_base_s,
        max_delay_s=settings.runtime.reconnect_max_s,
        first_attempts=1,
    )
    reader: FrameReader | None = None
    try:
        with open_frames(
            source,
            start_time=last.media_time if last else 0.0,
            reconnect_policy=policy,
            wait=wait,
        ) as reader:
            duration = reader.info.duration
            frames: Iterator[Frame] = iter(reader)
            reference: Frame | None = None
            if last is not None:
                # The first decoded frame at the resume point is the last one stored: it is the
                # de-duplication reference, exactly as in an uninterrupted run.
                for frame in frames:
                    if frame.index >= last.frame_index:
                        reference = frame if frame.index == last.frame_index else None
                        if reference is None:
                            frames = itertools.chain([frame], frames)
                        break
            if is_stream:
                frames = (_stream_identity(frame) for frame in frames)
            sampling = settings.sampling
            if source.kind == SourceKind.IMAGES:
                # Stills carry an ordinal media time (one unit per image), and every still
                # was taken on purpose: keep each, only de-duplicating near-identical ones.
                sampling = sampling.model_copy(update={"interval_s": 1.0})
            sampled = sample_frames(frames, sampling, reference=reference)

            def flush(batch: list[Frame]) -> None:
                written, existing = _write_batch(
                    batch, source, catalog, vector_index, embedder, settings
                )
                report.frames_written += written
                report.frames_already_indexed += existing
                if on_batch is not None:
                    on_batch(batch)

            batch: list[Frame] = []
            for frame in _prefetched(sampled, depth=2 * embedder.batch_size):
                batch.append(frame)
                reached_limit = (
                    max_frames is not None and report.frames_written + len(batch) >= max_frames
                ) or (max_seconds is not None and time.perf_counter() - started >= max_seconds)
                if len(batch) < embedder.batch_size and not reached_limit:
                    continue
                flush(batch)
                batch = []
                if time.perf_counter() - last_save >= SAVE_INDEX_EVERY_S:
                    vector_index.save()
                    last_save = time.perf_counter()
                if on_progress is not None:
                    on_progress(
                        IndexProgress(source, frame.media_time, duration, report.frames_written)
                    )
                if reached_limit:
                    stopped_early = True
                    break
            if batch:
                flush(batch)
            report.errors.extend(reader.errors)
            _stream_health(report, reader)
        report.complete = not report.errors and not is_stream and not stopped_early
    except Exception as error:
        if reader is not None:
            _stream_health(report, reader)
        report.errors.append(str(error))
        catalog.set_progress(source.id, model_id, status="failed", error=str(error))
        raise
    finally:
        vector_index.save()
        report.seconds = time.perf_counter() - started
    status = "complete" if report.complete else ("failed" if report.errors else "partial")
    catalog.set_progress(source.id, model_id, status=status, error="; ".join(report.errors) or None)
    if on_progress is not None and duration is not None:
        on_progress(IndexProgress(source, duration, duration, report.frames_written))
    return report


def recover_interrupted(catalog: Catalog, home: Path) -> list[int]:
    """Mark indexing left ``running`` by a process that died as ``partial``; returns source ids.

    A live indexer holds its source's writer lock, and the kernel drops the lock of a
    killed one, so a ``running`` row whose lock is free belongs to a dead process.
    Called when a server starts, so a source's health never says ``running`` for nothing.
    """
    recovered: list[int] = []
    for record in catalog.list_progress():
        if record.status != ProgressStatus.RUNNING:
            continue
        try:
            with source_writer_lock(home, record.source_id):
                catalog.set_progress(
                    record.source_id,
                    record.model_id,
                    status=ProgressStatus.PARTIAL,
                    error="interrupted: the process indexing this source stopped before "
                    "finishing; index it again to resume",
                )
        except SourceBusyError:
            continue  # a live process is indexing it: its row is right
        recovered.append(record.source_id)
    return recovered


def _stream_health(report: IndexReport, reader: FrameReader) -> None:
    report.corrupt_frames = reader.skipped
    if isinstance(reader, ReconnectingStreamReader):
        report.reconnects = reader.reconnects
        report.last_error = reader.last_error


def _write_batch(
    batch: list[Frame],
    source: Source,
    catalog: Catalog,
    vector_index: VectorSearch,
    embedder: Embedder,
    settings: Settings,
) -> tuple[int, int]:
    """Embed, write thumbnails, commit to the catalog, then add to the vector index."""
    vectors = embedder.embed_images([frame.image for frame in batch])  # (B, D)
    new_frames = []
    for frame in batch:
        relpath = thumbnail_relpath(source.id, frame.index)
        write_thumbnail(Path(settings.home), relpath, frame.image, settings.thumbnail_size)
        new_frames.append(NewFrame.from_frame(frame, relpath))
    inserted_ids = catalog.add_frames(source.id, embedder.model_id, new_frames, vectors)
    if len(inserted_ids) == len(batch):  # the usual case: every frame was new, in order
        vector_index.add(inserted_ids, vectors)
    elif inserted_ids:  # some frames were stored before: ask the catalog which vectors are new
        vector_index.add(inserted_ids, catalog.get_vectors(inserted_ids))
    return len(inserted_ids), len(batch) - len(inserted_ids)

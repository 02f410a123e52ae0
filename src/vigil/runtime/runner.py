"""Run scenario models on live streams and archives: threads per source, events, health.

Each source gets two threads joined by a one-slot buffer:

* a reader decodes frames (reconnecting a dropped stream with exponential
  backoff), keeps one every ``1 / rate_fps`` seconds and puts it in the buffer;
* a scorer takes the newest frame, runs every model on it and advances the
  event tracks (``vigil.runtime.events.step``).

When the model is slower than the rate, the reader overwrites the waiting frame
instead of queueing it: memory stays bounded, scores stay current, and the loss
shows up as ``frames_dropped`` and ``lag_s`` in the health snapshot rather than
as an ever-growing delay. Archives run with ``realtime=False``: nothing is
dropped, the reader waits for the scorer.

>>> runner = Runner(sources, [OnnxScorer(path)], store, settings.runtime, home)  # doctest: +SKIP
>>> runner.run(duration_s=60, on_health=print)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vigil.catalog.events_store import EventStore
from vigil.errors import InvalidInputError, SourceError, StreamUnavailableError, VigilError
from vigil.runtime.alerts import AlertDispatcher
from vigil.runtime.drift import DriftMonitor, DriftReading
from vigil.runtime.events import EventRule
from vigil.runtime.recording import EventRecorder, ModelPolicy, SourceEvents
from vigil.runtime.scorers import Scorer
from vigil.runtime.swap import ModelFollower, Swap
from vigil.runtime.types import SourceHealth
from vigil.settings import RuntimeSettings
from vigil.sources.readers import (
    FrameReader,
    ReconnectingStreamReader,
    ReconnectPolicy,
    open_frames,
)
from vigil.sources.types import Frame, Source, SourceKind

log = logging.getLogger(__name__)

# (connect, read) seconds for streams: a dead camera is noticed within seconds.
STREAM_TIMEOUT_S = (5.0, 5.0)
RATE_WINDOW_S = 5.0  # frames/s are averaged over this many recent seconds
EVIDENCE_SIDE = 320  # longest side of the frames kept in memory for evidence
STRIP_TILE_HEIGHT = 120  # height of each frame in an event's frame strip
PROGRESS_EVERY_S = 5.0  # an open event's last_seen_at is saved at least this often


@dataclass
class _Item:
    frame: Frame
    t: float  # frame time, epoch seconds
    received: float  # time.monotonic() when decoded


class LatestFrameBuffer:
    """A bounded hand-over between one reader and one scorer.

    ``drop=True`` (live): ``put`` replaces the oldest waiting item and says so.
    ``drop=False`` (archives): ``put`` waits for room, so nothing is lost.
    """

    def __init__(self, capacity: int = 1, *, drop: bool = True) -> None:
        if capacity < 1:
            raise InvalidInputError(f"buffer capacity must be >= 1, got {capacity}")
        self._items: deque[_Item] = deque()
        self._capacity = capacity
        self._drop = drop
        self._closed = False
        self._condition = threading.Condition()

    def put(self, item: _Item) -> bool:
        """Add ``item``; True when an older item was dropped to make room."""
        with self._condition:
            dropped = False
            while len(self._items) >= self._capacity and not self._closed:
                if self._drop:
                    self._items.popleft()
                    dropped = True
                    break
                self._condition.wait(0.1)
            if self._closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return dropped

    def get(self, timeout: float) -> _Item | None:
        with self._condition:
            if not self._items and not self._closed:
                self._condition.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._condition.notify_all()
            return item

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class RateMeter:
    """Events per second over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and self._times[0] < now - self._window:
                self._times.popleft()
            span = min(self._window, max(now - self._started, 1e-3))
            return len(self._times) / span


@dataclass
class _SourceRun:
    source: Source
    buffer: LatestFrameBuffer
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    corrupt_frames: int = 0
    reconnects: int = 0
    connected: bool = False
    finished: bool = False
    reader_done: bool = False
    lag_s: float = 0.0
    last_error: str | None = None
    reader: FrameReader | None = None  # a stream's reader carries its connection health
    meter_in: RateMeter = field(default_factory=RateMeter)
    meter_out: RateMeter = field(default_factory=RateMeter)
    events: SourceEvents | None = None  # the event tracks of this source (set by Runner)
    threads: list[threading.Thread] = field(default_factory=list)
    # Per model slot: the scorer a drift monitor was made for (a swap starts a new one).
    drift: dict[int, tuple[Scorer, DriftMonitor]] = field(default_factory=dict)
    drift_reading: DriftReading | None = None  # of the first slot with a reference
    scored_by: list[Scorer] = field(default_factory=list)  # the models of the last frame


class Runner:
    """Score ``sources`` with ``scorers``; store events and queue their alerts."""

    def __init__(
        self,
        sources: Sequence[Source],
        scorers: Sequence[Scorer],
        store: EventStore,
        settings: RuntimeSettings,
        home: Path,
        *,
        classes: Sequence[str] | None = None,
        realtime: bool = True,
        dispatcher: AlertDispatcher | None = None,
        stream_timeout_s: tuple[float, float] = STREAM_TIMEOUT_S,
        thumbnail_size: int = EVIDENCE_SIDE,
        policies: Sequence[ModelPolicy] | None = None,
        followers: dict[int, ModelFollower] | None = None,
        on_swap: Callable[[Swap], None] | None = None,
    ) -> None:
        """``policies`` (one per model) give each model its own thresholds and event
        classes (a scenario's ``alert_threshold`` / ``alert_classes``); without them
        every model uses ``settings`` and ``classes``. ``followers`` map a model slot
        to what it should follow (``vigil.runtime.swap``): the slot is hot-swapped
        when the followed model changes, and ``on_swap`` hears about it."""
        if not sources:
            raise InvalidInputError("vigil run needs at least one source, got none")
        if not scorers:
            raise InvalidInputError("vigil run needs at least one model, got none")
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"each source may be run once, got {names}")
        known = {name for scorer in scorers for name in scorer.class_names}
        unknown = sorted(set(classes or ()) - known)
        if unknown:
            raise InvalidInputError(
                f"event classes {unknown} are not produced by any model (known: {sorted(known)})"
            )
        self.rule = EventRule(
            on_threshold=settings.on_threshold,
            off_threshold=settings.off_threshold,
            min_duration_s=settings.min_duration_s,
            quiet_period_s=settings.quiet_period_s,
        )
        self.scorers = list(scorers)
        self.followers = dict(followers or {})
        self.on_swap = on_swap
        self.swaps: list[Swap] = []
        self.store = store
        self.settings = settings
        self.home = Path(home)
        self.realtime = realtime
        self.dispatcher = dispatcher
        self.targets = AlertDispatcher.targets(settings)
        self.stream_timeout_s = stream_timeout_s
        self.thumbnail_size = thumbnail_size
        self.recorder = EventRecorder(
            self.scorers,
            store,
            self.rule,
            self.targets,
            self.home,
            strip_frames=settings.strip_frames,
            thumbnail_size=thumbnail_size,
            classes=classes,
            wake=self._wake,
            policies=policies,
        )
        self._period = 1.0 / settings.rate_fps
        self._stop = threading.Event()
        self._origin = time.time()
        self._runs = [
            _SourceRun(
                source=source,
                buffer=LatestFrameBuffer(drop=realtime or source.kind == SourceKind.STREAM),
                events=self.recorder.new_source(source.id),
            )
            for source in sources
        ]
        self.interrupted: list[int] = []
        self._started = False
        self._watcher: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------

    def start(self) -> None:
        """Close events a killed run left open, resume the outbox, start the threads."""
        if self._started:
            raise InvalidInputError("this runner was already started; create a new one")
        self._started = True
        self.interrupted = self.store.close_interrupted([run.source.id for run in self._runs])
        if self.interrupted:
            log.warning("closed %d events left open by a stopped run", len(self.interrupted))
        if self.dispatcher is not None:
            self.dispatcher.start()
            self.dispatcher.wake()
        for run in self._runs:
            reader = threading.Thread(
                target=self._read_loop, args=(run,), name=f"read-{run.source.name}", daemon=True
            )
            scorer = threading.Thread(
                target=self._score_loop, args=(run,), name=f"score-{run.source.name}", daemon=True
            )
            run.threads = [reader, scorer]
            reader.start()
            scorer.start()
        if self.followers:
            self._watcher = threading.Thread(target=self._watch_loop, name="models", daemon=True)
            self._watcher.start()

    def stop(self, *, drain_s: float = 2.0) -> None:
        """Stop reading, finish the frames in hand, close open events, flush alerts."""
        self._stop.set()
        for run in self._runs:
            run.buffer.close()
        for run in self._runs:
            for thread in run.threads:
                thread.join(timeout=self.stream_timeout_s[1] + 10)
        if self._watcher is not None:
            self._watcher.join(timeout=30)
        if self.dispatcher is not None:
            self.dispatcher.stop(drain_s=drain_s)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every source finished (files) or ``timeout``; True if all finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not all(run.finished for run in self._runs):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def run(
        self,
        duration_s: float | None = None,
        *,
        on_health: Callable[[list[SourceHealth]], None] | None = None,
        health_every_s: float = 5.0,
    ) -> list[SourceHealth]:
        """Start, run until every source finished or ``duration_s`` passed, stop."""
        self.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        next_report = time.monotonic() + health_every_s
        try:
            while not all(run.finished for run in self._runs):
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if on_health is not None and now >= next_report:
                    on_health(self.health())
                    next_report = now + health_every_s
                time.sleep(0.1)
        finally:
            self.stop()
        return self.health()

    def health(self) -> list[SourceHealth]:
        now = time.monotonic()
        models = tuple(scorer.model_version or scorer.model_id for scorer in self.scorers)
        for run in self._runs:
            if isinstance(run.reader, ReconnectingStreamReader):
                run.connected = run.reader.connected and not run.reader_done
                run.reconnects = run.reader.reconnects
                run.last_error = run.reader.last_error or run.last_error
        return [
            SourceHealth(
                source=run.source.name,
                connected=run.connected,
                finished=run.finished,
                fps_in=run.meter_in.rate(now),
                fps_processed=run.meter_out.rate(now),
                lag_s=run.lag_s,
                frames_in=run.frames_in,
                frames_processed=run.frames_processed,
                frames_dropped=run.frames_dropped,
                corrupt_frames=run.corrupt_frames,
                reconnects=run.reconnects,
                events_open=len(run.events.open_events) if run.events else 0,
                last_error=run.last_error,
                models=models,
                drift_psi=run.drift_reading.psi if run.drift_reading else None,
                drift_frames=run.drift_reading.frames if run.drift_reading else 0,
            )
            for run in self._runs
        ]

    # -- reading --------------------------------------------------------------------------

    def _open(self, run: _SourceRun) -> FrameReader:
        # A stream is read across drops under the one reconnect policy (shared with
        # indexing); it retries forever while running: a camera may be down for hours.
        return open_frames(
            run.source,
            realtime=self.realtime,
            timeout_s=self.stream_timeout_s,
            reconnect_policy=ReconnectPolicy(
                base_delay_s=self.settings.reconnect_base_s,
                max_delay_s=self.settings.reconnect_max_s,
            ),
            wait=self._stop.wait,
        )

    def _read_loop(self, run: _SourceRun) -> None:
        live = run.source.kind == SourceKind.STREAM
        try:
            try:
                reader = self._open(run)
            except SourceError as error:  # cannot be opened (or a stream never came back)
                run.last_error = str(error)
                log.error("%s: %s", run.source.name, error)
                return
            run.reader = reader
            run.connected = not live
            self._read_session(run, reader)
            run.connected = False
        except Exception as error:  # never leave the scorer waiting on a dead reader
            run.last_error = f"reader crashed: {error}"
            log.exception("%s: reader crashed", run.source.name)
        finally:
            run.reader_done = True
            if not live:
                run.buffer.close()

    def _read_session(self, run: _SourceRun, reader: FrameReader) -> None:
        next_due: float | None = None  # frame time from which the next frame is kept
        skipped_before = 0
        try:
            with reader:
                for frame in reader:
                    if self._stop.is_set():
                        break
                    run.frames_in += 1
                    run.meter_in.tick()
                    run.corrupt_frames += reader.skipped - skipped_before
                    skipped_before = reader.skipped
                    t = self._frame_time(frame)
                    if next_due is not None and t < next_due:
                        continue
                    # A fixed schedule, not "period since the last kept frame": arrival
                    # jitter would otherwise stretch every interval to the next frame
                    # (2 frames/s from 10 fps would become ~1.7). After a gap, restart it.
                    behind = next_due is None or t - next_due >= self._period
                    next_due = (t if behind else next_due) + self._period  # type: ignore[operator]
                    if run.buffer.put(_Item(frame, t, time.monotonic())):
                        run.frames_dropped += 1
                run.corrupt_frames += reader.skipped - skipped_before
                if reader.errors:
                    run.last_error = reader.errors[-1]
        except StreamUnavailableError as error:
            run.last_error = str(error)
            log.warning("%s: %s", run.source.name, error)
        except VigilError as error:
            run.last_error = str(error)
            log.error("%s: %s", run.source.name, error)

    def _frame_time(self, frame: Frame) -> float:
        if frame.captured_at is not None:
            return frame.captured_at.timestamp()
        return self._origin + frame.media_time

    # -- scoring and events ---------------------------------------------------------------

    def _score_loop(self, run: _SourceRun) -> None:
        try:
            while True:
                item = run.buffer.get(timeout=0.2)
                if item is None:
                    if run.buffer.closed or self._stop.is_set():
                        break
                    continue
                active = list(self.scorers)  # one frame, one set of models (hot swap)
                assert run.events is not None
                for slot, before in enumerate(run.scored_by):
                    if before is not active[slot]:  # swapped: v1's events end with v1
                        self.recorder.end_model(run.events, slot)
                run.scored_by = active
                try:
                    scores = [scorer.score([item.frame.image])[0] for scorer in active]
                except VigilError as error:  # one bad frame or model hiccup: keep going
                    run.last_error = f"scoring failed: {error}"
                    log.warning("%s: %s", run.source.name, run.last_error)
                    continue
                run.lag_s = time.monotonic() - item.received
                run.frames_processed += 1
                run.meter_out.tick()
                assert run.events is not None
                self.recorder.advance(
                    run.events,
                    item.t,
                    item.frame.image,
                    scores,
                    media_time=item.frame.media_time,
                    models=active,
                )
                self._watch_drift(run, item, active, scores)
        except Exception as error:
            run.last_error = f"scoring failed: {error}"
            log.exception("%s: scoring failed", run.source.name)
        finally:
            try:
                if run.events is not None:
                    self.recorder.finish(run.events)
            except VigilError as error:
                run.last_error = f"closing events failed: {error}"
            run.finished = True

    def _watch_drift(
        self, run: _SourceRun, item: _Item, active: list[Scorer], scores: list[np.ndarray]
    ) -> None:
        """Feed each model's confidence to its drift monitor; warn once per crossing."""
        first = True
        for slot, (scorer, row) in enumerate(zip(active, scores, strict=True)):
            if scorer.drift_reference is None:
                continue
            kept = run.drift.get(slot)
            if kept is None or kept[0] is not scorer:
                window = self.settings.drift_window
                monitor = DriftMonitor(
                    scorer.drift_reference,
                    window=window,
                    min_frames=min(self.settings.drift_min_frames, window),
                    bound=self.settings.drift_psi_bound,
                )
                run.drift[slot] = (scorer, monitor)
            else:
                monitor = kept[1]
            monitor.add(float(np.max(row)))
            warning = monitor.should_warn()
            if first:
                run.drift_reading = monitor.reading() if warning is None else warning
                first = False
            if warning is not None and warning.psi is not None:
                assert run.events is not None
                log.warning(
                    "%s: model %s confidence drifted (PSI %.3f > %.2f over %d frames)",
                    run.source.name,
                    scorer.model_version or scorer.model_id,
                    warning.psi,
                    monitor.bound,
                    warning.frames,
                )
                self.recorder.record_drift(
                    run.events,
                    item.t,
                    item.frame.image,
                    scorer,
                    psi=warning.psi,
                    bound=monitor.bound,
                    frames=warning.frames,
                )

    # -- hot swap -------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        while not self._stop.wait(self.settings.model_poll_s):
            self.check_models()

    def check_models(self) -> list[Swap]:
        """Ask every follower once; swap in what changed (called by the watcher thread)."""
        done = []
        for slot, follower in self.followers.items():
            running = self.scorers[slot]
            try:
                new = follower.check(running)
            except Exception:  # a broken loader must not stop the run
                log.exception("checking for a new model failed; keeping the running one")
                continue
            if new is None:
                continue
            self.scorers[slot] = new  # one assignment: the next frame is scored by the new model
            swap = Swap(
                slot=slot,
                before=running.model_version or running.model_id,
                after=new.model_version or new.model_id,
                scorer=new,
            )
            self.swaps.append(swap)
            done.append(swap)
            log.warning("%s", swap.message)
            if self.on_swap is not None:
                self.on_swap(swap)
        return done

    def _wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()


__all__ = ["LatestFrameBuffer", "RateMeter", "Runner"]

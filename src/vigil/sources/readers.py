"""Readers: turn a video file, an image folder or a live stream into ``Frame`` objects.

One entry point, ``open_frames(spec)``, picks the reader for ``spec.kind``; every
reader is a context manager and an iterator of RGB ``Frame`` objects, and carries
``info`` (a ``SourceInfo``), ``errors`` (messages of problems met while reading)
and ``skipped`` (items that could not be decoded and were left out).

Frame identity is what makes re-indexing idempotent, so it is derived from the
media itself rather than from a counter:

- video: ``index = round((pts - start_pts) * time_base * fps)``. A sequential
  decode and a decode that seeks to a keyframe and drops frames before
  ``start_time`` therefore give the same index to the same picture, and a packet
  the decoder rejects leaves a gap instead of renumbering everything after it.
- image folder: ``index`` is the position of the file in the sorted listing.
- stream: there is no stable origin (a reconnect restarts the clock), so ``index``
  counts frames received in this session and ``captured_at`` is the receipt time.

Damaged input policy (files): a file that cannot be opened at all raises
``CorruptMediaError`` from ``open_frames``. Damage found while reading does not
raise: the reader yields every frame it can decode, records what went wrong in
``reader.errors`` and stops. A truncated file is detected by comparing the last
frame reached with the frame count in the container header. Callers that need a
complete read check ``reader.errors`` after the loop. Live streams differ: a read
failure after frames were received raises ``StreamUnavailableError``;
``ReconnectingStreamReader`` (what ``open_frames`` gives for a stream when passed a
``ReconnectPolicy``) reopens it instead, the same way for ``vigil run`` and ``vigil index``.

Example::

    spec = SourceSpec(name="gate", kind=SourceKind.VIDEO, location="vtest.avi")
    with open_frames(spec, start_time=25.0) as reader:
        for frame in reader:
            ...
        if reader.errors:
            print("incomplete:", reader.errors)
"""

from __future__ import annotations

import logging
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import av
import av.container
import av.video
import numpy as np
from PIL import Image, ImageOps

from vigil.errors import (
    CorruptMediaError,
    InvalidInputError,
    SourceError,
    StreamUnavailableError,
    VigilError,
)
from vigil.sources.images import DECODE_ERRORS, open_image, to_rgb
from vigil.sources.locations import STREAM_SCHEMES
from vigil.sources.types import Frame, SourceKind, SourceSpec

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
)
# (open, read) seconds: long enough for a slow camera's RTSP handshake, short enough that
# a dead address is reported while the user is still looking at the terminal.
DEFAULT_STREAM_TIMEOUT_S = (10.0, 10.0)
# Damaged files often produce a burst of undecodable packets; past this many in a row the
# rest of the file is treated as unreadable rather than decoded packet by packet.
MAX_CONSECUTIVE_DECODE_ERRORS = 50
# Tolerance when comparing media times (float seconds built from exact rationals).
_TIME_EPS = 1e-6
# EXIF tags (Exif IFD) for the moment the shutter fired and its UTC offset.
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_OFFSET_TIME_ORIGINAL = 36881


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before its frames are read (fields None when unknown)."""

    kind: SourceKind
    location: str
    width: int | None = None  # for image folders: the first readable image
    height: int | None = None
    fps: float | None = None  # nominal rate (average_rate); None for image folders
    duration: float | None = None  # seconds of media; None for live streams
    frame_count: int | None = None  # from the container header / number of image files
    codec: str | None = None
    created_at: datetime | None = None  # container creation_time, timezone-aware


class FrameReader(ABC):
    """A context manager and iterator of ``Frame`` objects from one source."""

    def __init__(self, info: SourceInfo, *, realtime: bool = False) -> None:
        self.info = info
        self.errors: list[str] = []  # problems met while reading (reading stopped or skipped)
        self.skipped = 0  # items (images, packets) that could not be decoded
        self._realtime = realtime
        self._pace_origin: tuple[float, float] | None = None  # (wall clock, media time)
        self._frames: Iterator[Frame] | None = None

    @abstractmethod
    def _generate(self) -> Iterator[Frame]:
        """Yield frames in order; record recoverable problems in ``errors``."""

    @abstractmethod
    def _release(self) -> None:
        """Free decoder resources (containers, file handles)."""

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        if self._frames is None:
            self._frames = self._generate()
        frame = next(self._frames)
        if self._realtime:
            self._pace(frame.media_time)
        return frame

    def _pace(self, media_time: float) -> None:
        """Hold a frame back until its media time, so a file can stand in for a live camera."""
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, media_time)
            return
        wall0, media0 = self._pace_origin
        delay = wall0 + (media_time - media0) - now
        if delay > 0:
            time.sleep(delay)

    def close(self) -> None:
        if self._frames is not None and hasattr(self._frames, "close"):
            self._frames.close()
        self._release()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, message: str) -> None:
        log.warning("%s: %s", self.info.location, message)
        self.errors.append(message)


# --------------------------------------------------------------------------- helpers


def detect_kind(location: str) -> SourceKind:
    """Guess a source's kind from its location: URL -> STREAM, folder -> IMAGES, file -> VIDEO.

    >>> detect_kind("rtsp://10.0.0.5/stream1")
    <SourceKind.STREAM: 'stream'>
    """
    scheme = _url_scheme(location)
    if scheme is not None:
        if scheme not in STREAM_SCHEMES:
            raise InvalidInputError(
                f"unsupported stream URL scheme {scheme!r} in {location!r}; "
                f"expected one of {sorted(STREAM_SCHEMES)}"
            )
        return SourceKind.STREAM
    path = Path(location).expanduser()
    if path.is_dir():
        return SourceKind.IMAGES
    if path.is_file():
        return SourceKind.VIDEO
    raise SourceError(
        f"source location {location!r} is neither a stream URL nor an existing file or folder"
    )


def _url_scheme(location: str) -> str | None:
    """The lower-case scheme of a URL, or None for a local path (``C:\\x`` included)."""
    if "://" not in location:
        return None
    scheme = urlsplit(location).scheme.lower()
    return scheme if len(scheme) > 1 else None


def _check_location(spec: SourceSpec) -> None:
    """Refuse a location that cannot be of the declared kind (URL for a file, etc.)."""
    scheme = _url_scheme(spec.location)
    if spec.kind == SourceKind.STREAM:
        if scheme not in STREAM_SCHEMES:
            raise InvalidInputError(
                f"a stream source needs a URL with scheme in {sorted(STREAM_SCHEMES)}, "
                f"got {spec.location!r}"
            )
    elif scheme is not None:
        raise InvalidInputError(
            f"a {spec.kind.value} source needs a local path, got URL {spec.location!r} "
            "(use kind 'stream' for network sources)"
        )


def _parse_creation_time(*metadatas: dict[str, str]) -> datetime | None:
    """Container ``creation_time`` as an aware datetime (container specs define it as UTC)."""
    for metadata in metadatas:
        raw = metadata.get("creation_time")
        if not raw:
            continue
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            log.warning("ignoring unparsable creation_time %r", raw)
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _av_reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- video files


class _AVReader(FrameReader):
    """Shared PyAV plumbing for files and streams."""

    def __init__(
        self,
        container: av.container.InputContainer,
        info: SourceInfo,
        *,
        realtime: bool,
    ) -> None:
        super().__init__(info, realtime=realtime)
        self._container = container
        self._stream = container.streams.video[0]
        # Let FFmpeg use both slice and frame threads; decode is the hot loop of indexing.
        self._stream.thread_type = "AUTO"

    def _release(self) -> None:
        self._container.close()


def _video_stream(container: av.container.InputContainer, location: str) -> av.video.VideoStream:
    if not container.streams.video:
        container.close()
        raise CorruptMediaError(f"expected a video stream in {location!r}, found none")
    return container.streams.video[0]


def _video_info(
    container: av.container.InputContainer, kind: SourceKind, location: str
) -> SourceInfo:
    stream = _video_stream(container, location)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    duration: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return SourceInfo(
        kind=kind,
        location=location,
        width=stream.codec_context.width or None,
        height=stream.codec_context.height or None,
        fps=float(rate) if rate else None,
        duration=duration,
        frame_count=stream.frames or None,
        codec=stream.codec_context.name,
        created_at=_parse_creation_time(dict(container.metadata), dict(stream.metadata)),
    )


class VideoFileReader(_AVReader):
    """Decode a video file; seek to ``start_time`` and continue with stable indices."""

    def __init__(self, spec: SourceSpec, start_time: float = 0.0, *, realtime: bool = False):
        path = Path(spec.location).expanduser()
        if not path.exists():
            raise SourceError(f"video file not found: {str(path)!r}")
        if not path.is_file():
            raise SourceError(f"expected a video file, got a folder: {str(path)!r}")
        if start_time < 0:
            raise InvalidInputError(f"start_time must be >= 0 seconds, got {start_time}")
        try:
            container = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise CorruptMediaError(
                f"cannot open {str(path)!r} as video ({_av_reason(error)})"
            ) from error
        info = _video_info(container, SourceKind.VIDEO, spec.location)
        super().__init__(container, info, realtime=realtime)
        stream = self._stream
        self._time_base = stream.time_base or Fraction(1, 1)
        self._rate = Fraction(stream.average_rate or stream.guessed_rate or 0)
        self._start_pts = stream.start_time or 0
        self._start_time = start_time

    def _index_and_time(self, pts: int | None, previous: int) -> tuple[int, float]:
        """Frame number and media time from pts, so seeking never renumbers frames."""
        if pts is None or not self._rate:
            index = previous + 1
            media_time = index / float(self._rate) if self._rate else float(index)
            return index, media_time
        elapsed = (pts - self._start_pts) * self._time_base  # exact rational seconds
        # Round half away from zero (Fraction.__round__ rounds half to even) and keep the
        # sequence strictly increasing even for variable-rate files where two frames can
        # round to the same nominal slot; the same rule runs after a seek, so both agree.
        index = max(math.floor(elapsed * self._rate + Fraction(1, 2)), previous + 1, 0)
        return index, float(elapsed)

    def _seek(self) -> None:
        """Jump to the keyframe at or before ``start_time``; decoding then drops the rest."""
        target = self._start_pts + math.floor(Fraction(self._start_time) / self._time_base)
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.FFmpegError as error:
            # Unseekable file (no index, damaged): decode from the start and drop frames.
            log.info("seek to %.3fs failed (%s); decoding from the start", self._start_time, error)
            self._container.close()
            self._container = av.open(self.info.location)
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"

    def _generate(self) -> Iterator[Frame]:
        if self._start_time > 0:
            self._seek()
        created_at = self.info.created_at
        last_index = -1
        first_checked = self._start_time <= 0
        consecutive_errors = 0
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as error:
                self._record(f"demuxing stopped after frame {last_index}: {_av_reason(error)}")
                return
            try:
                decoded = packet.decode()
                consecutive_errors = 0
            except (av.FFmpegError, OSError) as error:
                self.skipped += 1
                consecutive_errors += 1
                if consecutive_errors == 1:
                    self._record(
                        f"undecodable packet after frame {last_index}: {_av_reason(error)}"
                    )
                if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    self._record(f"gave up after {consecutive_errors} undecodable packets in a row")
                    return
                continue
            for av_frame in decoded:
                index, media_time = self._index_and_time(av_frame.pts, last_index)
                if not first_checked:
                    first_checked = True
                    if media_time > self._start_time + _TIME_EPS:
                        # The demuxer's seek landed past the target (imprecise index):
                        # restart from the beginning so no frame is silently lost.
                        log.info("seek overshot %.3fs; decoding from the start", media_time)
                        self._container.seek(self._start_pts, stream=self._stream, backward=True)
                        packets = self._container.demux(self._stream)
                        break
                if media_time < self._start_time - _TIME_EPS:
                    continue
                last_index = index
                yield Frame(
                    index=index,
                    media_time=media_time,
                    image=av_frame.to_ndarray(format="rgb24"),
                    captured_at=created_at + timedelta(seconds=media_time) if created_at else None,
                )
        self._check_complete(last_index)

    def _check_complete(self, last_index: int) -> None:
        """Flag a file that ends before the frame count its header promises (truncation)."""
        expected = self.info.frame_count
        if not expected:
            return  # container without a frame count (MPEG-TS, Matroska): nothing to compare
        if last_index >= 0:
            reached = last_index + 1
        else:  # nothing at or after start_time: did the header promise frames there?
            reached = (
                math.ceil(self._start_time * float(self._rate) - _TIME_EPS) if self._rate else 0
            )
        # One frame of slack: some muxers count a trailing frame the decoder never outputs.
        if reached < expected - 1:
            where = f"after frame {last_index}" if last_index >= 0 else "before any frame"
            self._record(
                f"file ended {where} but its header declares {expected} frames "
                "(truncated or damaged); frames decoded so far were kept"
            )


# --------------------------------------------------------------------------- live streams


class StreamReader(_AVReader):
    """Read a network stream; frames are numbered per session and stamped on receipt."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        timeout_s: tuple[float, float] = DEFAULT_STREAM_TIMEOUT_S,
    ):
        _check_location(spec)
        options = (
            {"rtsp_transport": "tcp"} if _url_scheme(spec.location) in {"rtsp", "rtsps"} else {}
        )
        try:
            container = av.open(spec.location, timeout=timeout_s, options=options)
        except (av.FFmpegError, OSError) as error:
            raise StreamUnavailableError(
                f"cannot open stream {spec.location!r}: {_av_reason(error)}"
            ) from error
        try:
            info = _video_info(container, SourceKind.STREAM, spec.location)
        except CorruptMediaError as error:
            raise StreamUnavailableError(f"{error} (stream {spec.location!r})") from error
        # No pacing: a live source is paced by its sender already.
        super().__init__(container, info, realtime=False)

    def _generate(self) -> Iterator[Frame]:
        stream = self._stream
        time_base = stream.time_base or Fraction(1, 1)
        first_pts: int | None = None
        index = -1
        try:
            for av_frame in self._container.decode(stream):
                if av_frame.pts is not None and first_pts is None:
                    first_pts = av_frame.pts
                index += 1
                media_time = (
                    float((av_frame.pts - first_pts) * time_base)
                    if av_frame.pts is not None and first_pts is not None
                    else float(index)
                )
                yield Frame(
                    index=index,
                    media_time=media_time,
                    image=av_frame.to_ndarray(format="rgb24"),
                    captured_at=datetime.now(UTC),
                )
        except (av.FFmpegError, OSError) as error:
            raise StreamUnavailableError(
                f"stream {self.info.location!r} failed after {index + 1} frames: "
                f"{_av_reason(error)}"
            ) from error


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a dropped stream is reopened: the one policy of ``vigil run`` and ``vigil index``.

    After a drop the reader waits ``base_delay_s``, then tries to reopen, doubling the
    delay after each failed try up to ``max_delay_s`` (1 s, 2 s, 4 s ... 30 s), and gives
    up after ``attempts`` failed tries in a row (``first_attempts`` before the stream was
    ever reached, so a mistyped address fails fast while a camera reboot is a pause).
    """

    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    attempts: int = 1_000_000  # a camera may be down for hours
    first_attempts: int = 1_000_000

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_attempts < 1:
            raise InvalidInputError(
                f"reconnect attempts must be >= 1, got {self.attempts} / {self.first_attempts}"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0 = the first)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2**attempt))


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def reconnect(
    spec: SourceSpec,
    *,
    attempts: int = 5,
    base_delay_s: float = 1.0,
    max_delay_s: float = 30.0,
    timeout_s: tuple[float, float] = DEFAULT_STREAM_TIMEOUT_S,
    sleep: Callable[[float], object] = time.sleep,
) -> FrameReader:
    """Open a stream, retrying with exponential backoff (1 s, 2 s, 4 s ... capped).

    Cameras reboot and Wi-Fi links drop; a few retries turn those into a pause
    instead of a failed run. Raises the last ``StreamUnavailableError`` when every
    attempt fails. ``sleep`` returning True stops early (the caller is stopping).
    """
    if attempts < 1:
        raise InvalidInputError(f"attempts must be >= 1, got {attempts}")
    policy = ReconnectPolicy(base_delay_s, max_delay_s, attempts, attempts)
    last_error: StreamUnavailableError | None = None
    for attempt in range(attempts):
        try:
            return StreamReader(spec, timeout_s=timeout_s)
        except StreamUnavailableError as error:
            last_error = error
            if attempt + 1 < attempts:
                delay = policy.delay(attempt)
                log.warning("%s; retrying in %.1fs", error, delay)
                if sleep(delay) is True:
                    break
    assert last_error is not None
    raise StreamUnavailableError(f"{last_error} (gave up after {attempt + 1} attempts)")


class ReconnectingStreamReader(FrameReader):
    """A live stream read across drops: each drop is reopened under a ``ReconnectPolicy``.

    Frames keep one timeline across sessions: ``index`` keeps counting and
    ``media_time`` is seconds since the first frame of the first session (by receipt
    time), so a sampling grid or de-duplication reference carries over a reconnect.
    ``connected``, ``reconnects``, ``skipped`` and ``last_error`` are the health a
    supervisor shows. ``wait(seconds)`` sleeps between tries and returns True to stop
    (the caller is shutting down, or its time is up): the reader then just ends.
    Raises ``StreamUnavailableError`` when a drop outlasts the policy's attempts.
    """

    def __init__(
        self,
        spec: SourceSpec,
        policy: ReconnectPolicy,
        *,
        timeout_s: tuple[float, float] = DEFAULT_STREAM_TIMEOUT_S,
        wait: Callable[[float], bool] = _sleep,
    ) -> None:
        _check_location(spec)
        self.spec = spec
        self.policy = policy
        self.timeout_s = timeout_s
        self._wait = wait
        self.connected = False
        self.reconnects = 0
        self.last_error: str | None = None
        self._session: FrameReader | None = self._connect(policy.first_attempts)
        info = self._session.info if self._session else SourceInfo(SourceKind.STREAM, spec.location)
        super().__init__(info, realtime=False)

    def _connect(self, attempts: int) -> FrameReader | None:
        """A new session, or None when ``wait`` asked to stop."""
        stopped = False

        def wait(seconds: float) -> bool:
            nonlocal stopped
            stopped = self._wait(seconds)
            return stopped

        try:
            session = reconnect(
                self.spec,
                attempts=attempts,
                base_delay_s=self.policy.base_delay_s,
                max_delay_s=self.policy.max_delay_s,
                timeout_s=self.timeout_s,
                sleep=wait,
            )
        except StreamUnavailableError as error:
            if stopped:
                return None
            self.last_error = str(error)
            raise
        self.connected = True
        return session

    def _generate(self) -> Iterator[Frame]:
        origin: datetime | None = None
        next_index = 0
        while self._session is not None:
            session, offset, skipped = self._session, None, 0
            try:
                with session:
                    for frame in session:
                        self.skipped += session.skipped - skipped
                        skipped = session.skipped
                        captured = frame.captured_at or datetime.now(UTC)
                        origin = origin or captured
                        if offset is None:  # this session's media time 0, on the first's clock
                            offset = (captured - origin).total_seconds() - frame.media_time
                        yield replace(frame, index=next_index, media_time=frame.media_time + offset)
                        next_index += 1
                    self.skipped += session.skipped - skipped
                    self.last_error = session.errors[-1] if session.errors else self.last_error
            except StreamUnavailableError as error:
                self.last_error = str(error)
                log.warning("%s: %s", self.spec.name, error)
            finally:
                self.connected = False
                self._session = None
            # A live stream that ended or failed is a drop: wait a moment, reopen.
            if self._wait(self.policy.base_delay_s):
                return
            self._session = self._connect(self.policy.attempts)
            if self._session is not None:
                self.reconnects += 1

    def _release(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
            self.connected = False


# --------------------------------------------------------------------------- image folders


def _list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden entries skipped), sorted by relative path.

    Recursive because cameras and phones split dumps into dated sub-folders
    (``DCIM/100CANON``); sorted by relative POSIX path so the order, and thus the
    frame index, is the same on every platform.
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            Path(root, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _exif_datetime(image: Image.Image) -> datetime | None:
    """EXIF DateTimeOriginal (aware); without an offset tag it is taken as local time."""
    exif = image.getexif().get_ifd(_EXIF_IFD)
    raw = exif.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = exif.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str):
        try:
            return datetime.fromisoformat(moment.isoformat() + offset.strip().rstrip("\x00"))
        except ValueError:
            pass
    # Cameras record wall time without a zone; the machine's zone is the usual best guess.
    return moment.astimezone()


_IMAGE_ERRORS: tuple[type[Exception], ...] = (*DECODE_ERRORS, VigilError)


def _load_image(path: Path) -> tuple[np.ndarray, datetime | None]:
    # The guarded decoder: a file declaring a huge canvas is refused before decoding.
    with open_image(path, what=f"image {path.name!r}") as image:
        taken = _exif_datetime(image)
        rgb = to_rgb(image, what=f"image {path.name!r}", upright=True)
    return rgb, taken


class ImageFolderReader(FrameReader):
    """Decode a folder of still images in sorted order; unreadable files are skipped."""

    def __init__(self, spec: SourceSpec, start_time: float = 0.0, *, realtime: bool = False):
        folder = Path(spec.location).expanduser()
        if not folder.is_dir():
            raise SourceError(f"image folder not found: {str(folder)!r}")
        self._folder = folder
        self._paths = _list_images(folder)
        if not self._paths:
            raise SourceError(
                f"no images in folder {str(folder)!r} "
                f"(expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        # Ordinal "seconds": resuming at media_time t continues with the t-th file.
        self._first = max(0, math.ceil(start_time - _TIME_EPS))
        width = height = None
        for path in self._paths:
            try:
                with open_image(path) as image:
                    width, height = ImageOps.exif_transpose(image).size
                break
            except _IMAGE_ERRORS:
                continue
        super().__init__(
            SourceInfo(
                kind=SourceKind.IMAGES,
                location=spec.location,
                width=width,
                height=height,
                frame_count=len(self._paths),
                duration=float(len(self._paths)),
            ),
            realtime=realtime,
        )

    def _release(self) -> None:
        """Nothing to free: each image file is opened and closed while it is decoded."""
        return None

    def _generate(self) -> Iterator[Frame]:
        for index in range(self._first, len(self._paths)):
            path = self._paths[index]
            name = path.relative_to(self._folder).as_posix()
            try:
                rgb, taken = _load_image(path)
                if taken is None:
                    taken = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            except _IMAGE_ERRORS as error:
                self.skipped += 1
                self._record(f"skipped unreadable image {name!r}: {type(error).__name__}: {error}")
                continue
            yield Frame(
                index=index, media_time=float(index), image=rgb, captured_at=taken, name=name
            )


# --------------------------------------------------------------------------- entry points


def open_frames(
    spec: SourceSpec,
    start_time: float = 0.0,
    *,
    realtime: bool = False,
    timeout_s: tuple[float, float] = DEFAULT_STREAM_TIMEOUT_S,
    reconnect_policy: ReconnectPolicy | None = None,
    wait: Callable[[float], bool] = _sleep,
) -> FrameReader:
    """Open the reader for ``spec.kind``, positioned at ``start_time`` seconds of media.

    With ``reconnect_policy`` a stream is read across drops (``ReconnectingStreamReader``,
    which sleeps with ``wait``); without, a drop raises ``StreamUnavailableError``.

    ``realtime`` paces a file at its own frame rate (a recorded clip standing in for
    a camera); live streams are paced by their sender, and ``start_time`` is ignored
    for them since they cannot seek. A stream that ends cleanly (server closed) just
    stops; a failure mid-read raises ``StreamUnavailableError``.
    ``timeout_s`` is the (connect, read) timeout for streams.
    """
    _check_location(spec)
    if spec.kind == SourceKind.VIDEO:
        return VideoFileReader(spec, start_time, realtime=realtime)
    if spec.kind == SourceKind.IMAGES:
        return ImageFolderReader(spec, start_time, realtime=realtime)
    if spec.kind == SourceKind.STREAM:
        if start_time > 0:
            log.debug("start_time %.3f ignored for live stream %s", start_time, spec.location)
        if reconnect_policy is not None:
            return ReconnectingStreamReader(spec, reconnect_policy, timeout_s=timeout_s, wait=wait)
        return StreamReader(spec, timeout_s=timeout_s)
    raise InvalidInputError(f"unknown source kind {spec.kind!r}")


def probe(
    spec: SourceSpec,
    *,
    connect: bool = False,
    timeout_s: tuple[float, float] = DEFAULT_STREAM_TIMEOUT_S,
) -> SourceInfo:
    """Check a source at registration time and describe it.

    Files must open and decode a first frame; folders must hold at least one
    readable image; stream URLs must use a supported scheme and are only
    contacted (and must deliver a frame) when ``connect`` is true, so that a
    camera that is offline right now can still be registered.
    """
    _check_location(spec)
    if spec.kind == SourceKind.STREAM and not connect:
        return SourceInfo(kind=SourceKind.STREAM, location=spec.location)
    with open_frames(spec, timeout_s=timeout_s) as reader:
        first = next(reader, None)
        if first is None:
            detail = "; ".join(reader.errors) or "no frames"
            if spec.kind == SourceKind.STREAM:
                raise StreamUnavailableError(f"stream {spec.location!r} sent no frame ({detail})")
            raise CorruptMediaError(f"no decodable frame in {spec.location!r} ({detail})")
        info = reader.info
        if info.width is None or info.height is None:
            height, width = first.image.shape[:2]
            info = replace(info, width=width, height=height)
        return info


__all__ = [
    "DEFAULT_STREAM_TIMEOUT_S",
    "IMAGE_SUFFIXES",
    "STREAM_SCHEMES",
    "FrameReader",
    "ImageFolderReader",
    "ReconnectPolicy",
    "ReconnectingStreamReader",
    "SourceInfo",
    "StreamReader",
    "VideoFileReader",
    "detect_kind",
    "open_frames",
    "probe",
    "reconnect",
]

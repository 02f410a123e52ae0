"""Readers on real media: the real clip, re-encoded and truncated copies of it, real photos."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigil.errors import CorruptMediaError, InvalidInputError, SourceError, StreamUnavailableError
from vigil.sources import (
    Frame,
    SourceKind,
    SourceSpec,
    detect_kind,
    open_frames,
    probe,
    reconnect,
)

VTEST_FRAMES = 795


def video_spec(path: Path | str) -> SourceSpec:
    return SourceSpec(name="clip", kind=SourceKind.VIDEO, location=str(path))


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    """The first ``fraction`` of a real file's bytes, as an interrupted copy leaves it."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _digest(frame: Frame) -> str:
    return hashlib.sha1(frame.image.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def sequential(vtest_path: Path) -> list[tuple[int, float, str]]:
    """(index, media_time, pixel digest) of every frame from one uninterrupted decode."""
    with open_frames(video_spec(vtest_path)) as reader:
        return [(f.index, f.media_time, _digest(f)) for f in reader]


# ----------------------------------------------------------------------------- detect_kind


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("rtsp://10.0.0.5:554/stream1", SourceKind.STREAM),
        ("RTSPS://cam.local/live", SourceKind.STREAM),
        ("rtmp://127.0.0.1/live/cam", SourceKind.STREAM),
        ("http://127.0.0.1:8080/cam.mjpg", SourceKind.STREAM),
        ("https://example.org/hls/index.m3u8", SourceKind.STREAM),
    ],
)
def test_detect_kind_urls(location: str, expected: SourceKind) -> None:
    assert detect_kind(location) == expected


def test_detect_kind_paths(vtest_path: Path, tmp_path: Path) -> None:
    assert detect_kind(str(vtest_path)) == SourceKind.VIDEO
    assert detect_kind(str(tmp_path)) == SourceKind.IMAGES
    with pytest.raises(SourceError, match="neither a stream URL nor an existing"):
        detect_kind(str(tmp_path / "missing.avi"))
    with pytest.raises(InvalidInputError, match="unsupported stream URL scheme 'ftp'"):
        detect_kind("ftp://example.org/clip.avi")


# ----------------------------------------------------------------------------- video files


def test_video_info_and_frames(vtest_path: Path, sequential: list[tuple[int, float, str]]) -> None:
    with open_frames(video_spec(vtest_path)) as reader:
        info = reader.info
        first = next(reader)
    assert (info.width, info.height, info.fps) == (768, 576, 10.0)
    assert (info.frame_count, info.duration, info.codec) == (VTEST_FRAMES, 79.5, "msmpeg4")
    assert first.image.shape == (576, 768, 3) and first.image.dtype == np.uint8
    assert first.captured_at is None  # AVI has no creation_time
    assert [i for i, _, _ in sequential] == list(range(VTEST_FRAMES))
    assert [t for _, t, _ in sequential] == pytest.approx([i / 10 for i in range(VTEST_FRAMES)])


@pytest.mark.parametrize("start_time", [0.05, 24.95, 25.0, 25.3, 62.7, 79.4, 500.0])
def test_seek_continues_exactly_like_a_sequential_decode(
    vtest_path: Path, sequential: list[tuple[int, float, str]], start_time: float
) -> None:
    """Keyframes are 250 frames apart, so most of these land mid-GOP."""
    with open_frames(video_spec(vtest_path), start_time) as reader:
        resumed = [(f.index, f.media_time, _digest(f)) for f in reader]
        assert reader.errors == []
    assert resumed == [row for row in sequential if row[1] >= start_time - 1e-9]


def test_mp4_indices_from_pts_and_creation_time(vtest_mp4: Path, creation_time: datetime) -> None:
    created = creation_time
    with open_frames(video_spec(vtest_mp4)) as reader:
        assert reader.info.created_at == created
        frames = [(f.index, f.media_time, f.captured_at) for f in reader]
    assert [i for i, _, _ in frames] == list(range(VTEST_FRAMES))
    assert frames[253][1] == pytest.approx(25.3)
    assert frames[253][2] == created + timedelta(seconds=25.3)
    with open_frames(video_spec(vtest_mp4), 25.3) as reader:
        first = next(reader)
    assert (first.index, first.captured_at) == (253, frames[253][2])


def test_realtime_paces_a_file_at_its_frame_rate(vtest_path: Path) -> None:
    with open_frames(video_spec(vtest_path), realtime=True) as reader:
        started = time.monotonic()
        for _, _frame in zip(range(6), reader, strict=False):
            pass
    assert time.monotonic() - started >= 0.45  # 5 intervals of 0.1 s


def test_truncated_avi_keeps_decoded_frames_and_records_error(
    truncated_avi: Path, sequential: list[tuple[int, float, str]]
) -> None:
    with open_frames(video_spec(truncated_avi)) as reader:
        got = [(f.index, f.media_time, _digest(f)) for f in reader]
        errors = reader.errors
    assert 250 < len(got) < VTEST_FRAMES
    assert [i for i, _, _ in got] == list(range(len(got)))
    # Every frame but the last (whose packet may be cut) is pixel-identical to the intact file.
    assert got[:-1] == sequential[: len(got) - 1]
    assert len(errors) == 1 and "truncated" in errors[0] and "795" in errors[0]


def test_truncated_mp4_depends_on_where_its_index_is(
    vtest_mp4: Path, vtest_mp4_faststart: Path, tmp_path: Path
) -> None:
    """An MP4 written without faststart keeps its index (moov) at the end: cut, it is unreadable.

    With faststart the index comes first and the frames before the cut are kept.
    """
    cut = truncated_copy(vtest_mp4, tmp_path / "cut.mp4", 0.4)
    with pytest.raises(CorruptMediaError, match="cannot open"):
        open_frames(video_spec(cut))
    cut = truncated_copy(vtest_mp4_faststart, tmp_path / "cut_fast.mp4", 0.4)
    with open_frames(video_spec(cut)) as reader:
        count = sum(1 for _ in reader)
        assert 0 < count < VTEST_FRAMES
        assert "truncated" in reader.errors[0]


def test_garbage_and_non_media_raise_corrupt_media(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, np.uint8).tobytes())
    with pytest.raises(CorruptMediaError, match=r"cannot open .*garbage\.avi.* as video"):
        open_frames(video_spec(garbage))
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file, not a video\n" * 50)
    with pytest.raises(CorruptMediaError):
        probe(video_spec(text))


def test_missing_file_and_folder_as_video(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="video file not found"):
        open_frames(video_spec(tmp_path / "nope.avi"))
    with pytest.raises(SourceError, match="expected a video file, got a folder"):
        open_frames(video_spec(tmp_path))
    with pytest.raises(InvalidInputError, match="needs a local path"):
        open_frames(video_spec("http://127.0.0.1/clip.avi"))


def test_probe_video(vtest_path: Path, truncated_avi: Path) -> None:
    info = probe(video_spec(vtest_path))
    assert (info.kind, info.width, info.height, info.frame_count) == (
        SourceKind.VIDEO,
        768,
        576,
        VTEST_FRAMES,
    )
    assert probe(video_spec(truncated_avi)).frame_count == VTEST_FRAMES  # header says so


# ----------------------------------------------------------------------------- image folders


def _images_spec(folder: Path) -> SourceSpec:
    return SourceSpec(name="stills", kind=SourceKind.IMAGES, location=str(folder))


def _exif_bytes(taken: str, *, offset: str | None = None, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    if offset is not None:
        exif.get_ifd(0x8769)[36881] = offset
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


@pytest.fixture
def image_folder(tmp_path: Path, vtest_stills: list[Image.Image], real_photo_path: Path) -> Path:
    folder = tmp_path / "stills"
    (folder / "sub").mkdir(parents=True)
    vtest_stills[0].save(folder / "a_000.png")
    vtest_stills[1].save(
        folder / "b_100.jpg", exif=_exif_bytes("2023:07:14 08:30:00", offset="+02:00")
    )
    # A truncated JPEG, as left by a crashed camera upload.
    whole = folder / "c_200.jpg"
    vtest_stills[2].save(whole)
    data = whole.read_bytes()
    whole.write_bytes(data[: len(data) // 3])
    # Rotated 90 degrees clockwise on display (EXIF orientation 6).
    with Image.open(real_photo_path) as photo:
        photo.save(folder / "d_photo.jpg", exif=_exif_bytes("2023:07:14 09:00:00", orientation=6))
    vtest_stills[3].save(folder / "sub" / "e_300.webp", lossless=True)
    (folder / "readme.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    os.utime(folder / "a_000.png", (1_700_000_000, 1_700_000_000))
    return folder


def test_image_folder_order_names_and_skips(
    image_folder: Path, vtest_stills: list[Image.Image], real_photo_path: Path
) -> None:
    with open_frames(_images_spec(image_folder)) as reader:
        frames = list(reader)
        assert reader.skipped == 1
        assert len(reader.errors) == 1 and "c_200.jpg" in reader.errors[0]
        assert reader.info.frame_count == 5
        assert (reader.info.width, reader.info.height) == (768, 576)
    assert [(f.index, f.name) for f in frames] == [
        (0, "a_000.png"),
        (1, "b_100.jpg"),
        (3, "d_photo.jpg"),
        (4, "sub/e_300.webp"),
    ]
    assert [f.media_time for f in frames] == [0.0, 1.0, 3.0, 4.0]
    assert np.array_equal(frames[0].image, np.asarray(vtest_stills[0]))  # PNG is lossless
    assert np.array_equal(frames[3].image, np.asarray(vtest_stills[3]))  # lossless WebP
    with Image.open(real_photo_path) as photo:
        width, height = photo.size
    assert frames[2].image.shape == (width, height, 3)  # orientation 6 applied: rotated


def test_image_capture_times(image_folder: Path) -> None:
    with open_frames(_images_spec(image_folder)) as reader:
        by_name = {f.name: f.captured_at for f in reader}
    assert by_name["a_000.png"] == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert by_name["b_100.jpg"] == datetime.fromisoformat("2023-07-14T08:30:00+02:00")
    local = by_name["d_photo.jpg"]
    assert local is not None and local.tzinfo is not None
    assert local.replace(tzinfo=None) == datetime(2023, 7, 14, 9, 0)


def test_image_folder_resume_and_errors(image_folder: Path, tmp_path: Path) -> None:
    with open_frames(_images_spec(image_folder), start_time=3.0) as reader:
        assert [f.index for f in reader] == [3, 4]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    with pytest.raises(SourceError, match="no images in folder"):
        open_frames(_images_spec(empty))
    with pytest.raises(SourceError, match="image folder not found"):
        probe(_images_spec(tmp_path / "missing"))
    info = probe(_images_spec(image_folder))
    assert (info.kind, info.frame_count) == (SourceKind.IMAGES, 5)


def test_folder_of_only_broken_images_fails_probe(tmp_path: Path, real_photo_path: Path) -> None:
    broken = truncated_copy(real_photo_path, tmp_path / "half.jpg", 0.3)
    assert broken.exists()
    with pytest.raises(CorruptMediaError, match="no decodable frame"):
        probe(_images_spec(tmp_path))


# ----------------------------------------------------------------------------- streams


def _stream_spec(url: str) -> SourceSpec:
    return SourceSpec(name="cam", kind=SourceKind.STREAM, location=url)


def _closed_port_url(scheme: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}/live"


def test_http_stream_of_the_real_clip(http_server: tuple[str, Path], vtest_ts: Path) -> None:
    base, folder = http_server
    shutil.copyfile(vtest_ts, folder / "clip.ts")
    spec = _stream_spec(f"{base}/clip.ts")
    assert probe(spec).width is None  # no connection without connect=True
    assert probe(spec, connect=True, timeout_s=(3, 3)).width == 768
    before = datetime.now(UTC)
    with open_frames(spec, timeout_s=(3, 3)) as reader:
        frames = [(f.index, f.media_time, f.captured_at) for f in reader]
        assert reader.errors == []
    after = datetime.now(UTC)
    assert [i for i, _, _ in frames] == list(range(VTEST_FRAMES))
    assert frames[0][1] == 0.0 and frames[-1][1] == pytest.approx(79.4)
    assert all(c is not None and before <= c <= after for _, _, c in frames)


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_unreachable_stream_fails_fast(scheme: str) -> None:
    url = _closed_port_url(scheme)
    started = time.monotonic()
    with pytest.raises(StreamUnavailableError, match=r"cannot open stream .*127\.0\.0\.1") as err:
        open_frames(_stream_spec(url), timeout_s=(2, 2))
    assert url in str(err.value)
    assert time.monotonic() - started < 3
    with pytest.raises(StreamUnavailableError):
        probe(_stream_spec(url), connect=True, timeout_s=(2, 2))


def test_missing_stream_path_is_unavailable(http_server: tuple[str, Path]) -> None:
    base, _ = http_server
    with pytest.raises(StreamUnavailableError, match="404"):
        open_frames(_stream_spec(f"{base}/nothing.ts"), timeout_s=(2, 2))


def test_reconnect_backs_off_then_gives_up() -> None:
    delays: list[float] = []
    with pytest.raises(StreamUnavailableError, match="gave up after 4 attempts"):
        reconnect(
            _stream_spec(_closed_port_url("http")),
            attempts=4,
            base_delay_s=0.5,
            max_delay_s=1.5,
            timeout_s=(1, 1),
            sleep=delays.append,
        )
    assert delays == [0.5, 1.0, 1.5]


def test_reconnect_returns_reader_once_reachable(
    http_server: tuple[str, Path], vtest_ts: Path
) -> None:
    base, folder = http_server
    shutil.copyfile(vtest_ts, folder / "clip.ts")
    with reconnect(_stream_spec(f"{base}/clip.ts"), timeout_s=(2, 2)) as reader:
        assert next(reader).index == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/clip", "needs a URL with scheme"),
        ("/tmp/not-a-url.avi", "needs a URL with scheme"),
    ],
)
def test_stream_spec_needs_supported_url(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        probe(_stream_spec(url))


def test_corrupted_middle_keeps_frames_before_the_damage(
    vtest_path: Path, tmp_path: Path, sequential: list[tuple[int, float, str]]
) -> None:
    """200 kB overwritten in the middle of a real copy, as a bad disk sector would.

    AVI carries no timestamps (pts are chunk counts), so frames after the damage can
    shift; what must hold is that nothing before it is lost and the damage is reported.
    """
    data = bytearray(vtest_path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200_000] = bytes(200_000)
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    with open_frames(video_spec(damaged)) as reader:
        got = [(f.index, f.media_time, _digest(f)) for f in reader]
        assert reader.errors, "damage must be reported"
    assert 300 < len(got) < VTEST_FRAMES
    assert got[:300] == sequential[:300]


def test_resuming_past_the_end(truncated_avi: Path, vtest_path: Path) -> None:
    """Past the cut of a truncated file is an error; past the last frame of an intact one is not."""
    with open_frames(video_spec(truncated_avi), 60.0) as reader:
        assert list(reader) == []
        assert "before any frame" in reader.errors[0]
    with open_frames(video_spec(vtest_path), 79.45) as reader:
        assert list(reader) == []
        assert reader.errors == []

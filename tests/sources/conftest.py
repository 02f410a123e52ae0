"""Fixtures for the sources stage: real media derived from the real vtest.avi clip and
real photos (scikit-learn's sample images), plus deliberately damaged copies of them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import av
import pytest
from PIL import Image

CREATION_TIME = "2024-05-01T12:00:00.000000Z"


def transcode_vtest(
    src: Path, dst: Path, *, fmt: str | None = None, gop: int = 25, faststart: bool = False
) -> Path:
    """Re-encode the real clip (mpeg4 part 2, 10 fps) so mp4/ts paths are exercised too."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(src)) as source, av.open(str(dst), "w", format=fmt, options=options) as out:
        if fmt != "mpegts":
            out.metadata["creation_time"] = CREATION_TIME
        in_stream = source.streams.video[0]
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = in_stream.codec_context.width
        stream.height = in_stream.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        for frame in source.decode(in_stream):
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture(scope="session")
def creation_time() -> datetime:
    """The creation_time written into the re-encoded MP4 fixtures."""
    return datetime.fromisoformat(CREATION_TIME)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def vtest_mp4(vtest_path: Path, media_dir: Path) -> Path:
    """vtest.avi re-encoded to MP4 (time base 1/10240, creation_time set)."""
    return transcode_vtest(vtest_path, media_dir / "vtest.mp4")


@pytest.fixture(scope="session")
def vtest_mp4_faststart(vtest_path: Path, media_dir: Path) -> Path:
    """Same, with the MP4 index (moov) written first, as streaming-friendly muxers do."""
    return transcode_vtest(vtest_path, media_dir / "vtest_fast.mp4", faststart=True)


@pytest.fixture(scope="session")
def vtest_ts(vtest_path: Path, media_dir: Path) -> Path:
    """vtest.avi re-encoded to MPEG-TS, the usual container of HTTP/HLS camera streams."""
    return transcode_vtest(vtest_path, media_dir / "vtest.ts", fmt="mpegts")


@pytest.fixture(scope="session")
def truncated_avi(vtest_path: Path, media_dir: Path) -> Path:
    """The first 40% of the bytes of the real clip, as left by an interrupted copy."""
    return truncated_copy(vtest_path, media_dir / "vtest_40pct.avi", 0.4)


@pytest.fixture(scope="session")
def vtest_stills(vtest_path: Path) -> list[Image.Image]:
    """Frames 0, 100, 200, 300 of the real clip as Pillow images."""
    with av.open(str(vtest_path)) as container:
        stills = [
            Image.fromarray(frame.to_ndarray(format="rgb24"))
            for i, frame in enumerate(container.decode(video=0))
            if i in (0, 100, 200, 300)
        ]
    return stills


@pytest.fixture(scope="session")
def real_photo_path() -> Path:
    from sklearn.datasets import load_sample_images

    return Path(load_sample_images().filenames[0])  # china.jpg, 640x427

"""Frame thumbnails on disk: the visual evidence shown beside every search hit."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from vigil.errors import VigilError

FRAMES_DIR = "thumbs"  # frame thumbnails: thumbs/SOURCE_ID/FRAME_INDEX.jpg
OBJECTS_DIR = "objects"  # object crops: objects/SOURCE_ID/FRAME_INDEX_NN.jpg
TRACKS_DIR = "tracks"  # best crop per track: tracks/SOURCE_ID/FIRST_MS_SERIAL.jpg


def thumbnail_relpath(source_id: int, frame_index: int) -> str:
    """Deterministic path, so a resumed run overwrites rather than orphans a half-written file."""
    return f"{FRAMES_DIR}/{source_id}/{frame_index:012d}.jpg"


def remove_source_media(home: Path, source_id: int) -> None:
    """Delete a removed source's frame thumbnails, object and track crops (missing: fine)."""
    for folder in (FRAMES_DIR, OBJECTS_DIR, TRACKS_DIR):
        shutil.rmtree(home / folder / str(source_id), ignore_errors=True)


def write_thumbnail(home: Path, relpath: str, image: np.ndarray, longest_side: int) -> None:
    """Downscale an RGB frame and write it as JPEG atomically (temp file, then rename)."""
    height, width = image.shape[:2]
    scale = min(1.0, longest_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    if not ok:
        raise VigilError(f"could not encode thumbnail {relpath}")
    target = home / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    # A temp name of its own per writer: two writers of the same frame (two processes, or a
    # re-run beside a straggler) must never rename each other's half-written file away.
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encoded.tobytes())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

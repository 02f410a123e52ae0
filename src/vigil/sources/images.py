"""The one image decoder for pictures that come from outside: uploads, image folders,
scenario examples.

Why one place: a 150 KB PNG can declare 30000 x 30000 pixels, and a decoder that is
simply asked for the pixels (``cv2.imdecode``, ``Image.open(...).convert``) allocates
the whole canvas first (gigabytes) and spends a minute filling it. Pillow's ``open`` is
lazy: it reads only the header, so the declared size is checked here against
``MAX_IMAGE_PIXELS`` before a single pixel is decoded, and a bomb costs microseconds.

>>> rgb = decode_image(Path("cat.png").read_bytes(), what="upload")  # doctest: +SKIP
>>> rgb.shape  # doctest: +SKIP
(480, 640, 3)
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vigil.errors import (
    CorruptMediaError,
    ImageTooLargeError,
    InvalidInputError,
    UnsupportedImageError,
    VigilError,
)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # about 8K x 6K; a 30000 x 30000 bomb is 18 times this

# What Pillow raises for damaged or truncated data once it starts decoding.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
)


@contextmanager
def open_image(
    source: Path | bytes, *, what: str = "image", max_pixels: int = MAX_IMAGE_PIXELS
) -> Iterator[Image.Image]:
    """A Pillow image whose declared size was checked; pixels are not decoded yet.

    Raises ``ImageTooLargeError`` for a size over ``max_pixels`` (checked on the header);
    data Pillow cannot identify is ``UnsupportedImageError`` for bytes (a bad upload) and
    ``CorruptMediaError`` for a file.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    unreadable: type[VigilError] = (
        UnsupportedImageError if isinstance(source, bytes) else CorruptMediaError
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its own limit raises) for huge headers; ours is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(stream)
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(
            f"{what} declares more pixels than the {max_pixels:,} allowed (Pillow: {error})"
        ) from error
    except DECODE_ERRORS as error:
        raise unreadable(
            f"{what} cannot be decoded: not an image Pillow reads (JPEG, PNG, WebP, BMP, "
            f"TIFF, GIF ...; {type(error).__name__})"
        ) from error
    with opened:
        width, height = opened.size
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"{what} is {width}x{height} pixels, more than the {max_pixels:,} allowed"
            )
        yield opened


def to_rgb(
    image: Image.Image,
    *,
    what: str = "image",
    upright: bool = False,
    damaged: type[VigilError] = CorruptMediaError,
) -> np.ndarray:
    """Decode a checked image as (H, W, 3) uint8 RGB; ``upright`` applies its EXIF rotation."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            shown = ImageOps.exif_transpose(image) if upright else image
            return np.asarray(shown.convert("RGB"), dtype=np.uint8)
    except DECODE_ERRORS as error:
        raise damaged(f"{what} cannot be decoded: damaged or unsupported ({error})") from error


def decode_image(
    data: bytes,
    *,
    what: str = "image",
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Encoded image bytes as (H, W, 3) uint8 RGB, or a clear error for anything else."""
    if not data:
        raise InvalidInputError(f"{what} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise InvalidInputError(
            f"{what} is {len(data) / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB allowed"
        )
    with open_image(data, what=what, max_pixels=max_pixels) as image:
        return to_rgb(image, what=what, damaged=UnsupportedImageError)


def read_image(
    path: Path, *, what: str | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, upright by its EXIF orientation."""
    label = what or f"image {str(path)!r}"
    with open_image(path, what=label, max_pixels=max_pixels) as image:
        return to_rgb(image, what=label, upright=True)


__all__ = [
    "DECODE_ERRORS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "decode_image",
    "open_image",
    "read_image",
    "to_rgb",
]

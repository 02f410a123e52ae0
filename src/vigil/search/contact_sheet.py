"""Contact sheets: one image that shows a person the top hits of a query at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vigil.errors import CorruptMediaError, ImageTooLargeError, InvalidInputError
from vigil.search.types import SearchHit
from vigil.sources.images import read_image

CAPTION_HEIGHT = 34
TITLE_HEIGHT = 28


def write_contact_sheet(
    hits: Sequence[SearchHit],
    *,
    home: Path,
    path: Path,
    title: str = "",
    columns: int = 4,
    tile_width: int = 320,
) -> Path:
    """Lay out hit thumbnails in a grid with source, media time and score under each."""
    if not hits:
        raise InvalidInputError("no hits to put on a contact sheet")
    if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
        raise InvalidInputError(f"contact sheet must be .jpg, .png or .webp, got {path.name!r}")
    columns = max(1, min(columns, len(hits)))
    rows = math.ceil(len(hits) / columns)
    tiles = [_tile(hit, home, tile_width) for hit in hits]
    tile_height = max(tile.height for tile in tiles)
    sheet = Image.new(
        "RGB", (columns * tile_width, TITLE_HEIGHT + rows * tile_height), color=(24, 24, 24)
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    draw.text((8, 5), title, fill=(255, 255, 255), font=font)
    for position, tile in enumerate(tiles):
        row, column = divmod(position, columns)
        sheet.paste(tile, (column * tile_width, TITLE_HEIGHT + row * tile_height))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _tile(hit: SearchHit, home: Path, width: int) -> Image.Image:
    shown = hit.object.thumbnail_path if hit.object is not None else hit.frame.thumbnail_path
    thumbnail_path = home / shown
    try:
        picture = Image.fromarray(read_image(thumbnail_path))
    except (CorruptMediaError, ImageTooLargeError):
        picture = Image.new("RGB", (width, width * 3 // 4), color=(60, 0, 0))
    picture = picture.resize((width, max(1, round(picture.height * width / picture.width))))
    tile = Image.new("RGB", (width, picture.height + CAPTION_HEIGHT), color=(24, 24, 24))
    tile.paste(picture, (0, 0))
    draw = ImageDraw.Draw(tile)
    font = ImageFont.load_default(size=13)
    caption = f"#{hit.rank} {hit.source.name}  t={hit.frame.media_time:.1f}s  score {hit.score:.3f}"
    draw.text((6, picture.height + 4), caption, fill=(235, 235, 235), font=font)
    draw.text(
        (6, picture.height + 18), f"frame {hit.frame.frame_index}", fill=(160, 160, 160), font=font
    )
    return tile

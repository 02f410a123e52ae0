"""Palette colours and brightness on real photos, stored by the object pass and backfilled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.catalog.attributes_store import (
    frame_attributes,
    frame_objects,
    frames_without_attributes,
    objects_without_colours,
)
from vigil.errors import InvalidInputError
from vigil.structure.attributes import (
    PALETTE,
    backfill_attributes,
    colour_shares,
    frame_look,
    name_pixels,
    object_colours,
)
from vigil.workspace import Workspace

skimage_data = pytest.importorskip("skimage.data")


def test_palette_names_the_colours_people_would_name() -> None:
    coffee = colour_shares(skimage_data.coffee()).shares  # red-orange cup on a brown table
    assert coffee.get("red", 0) + coffee.get("orange", 0) > 0.4
    assert coffee.get("blue", 0) == 0
    rocket = colour_shares(skimage_data.rocket()).shares  # dusk sky
    assert max(rocket, key=lambda name: rocket[name]) == "blue"
    cat = colour_shares(skimage_data.chelsea()).shares  # a tabby
    assert max(cat, key=lambda name: cat[name]) == "brown"
    assert set(coffee) | set(rocket) | set(cat) <= set(PALETTE)


def test_brightness_orders_a_dusk_photo_below_a_studio_photo() -> None:
    assert (
        frame_look(skimage_data.rocket()).brightness
        < frame_look(skimage_data.astronaut()).brightness
    )


def test_object_colours_split_upper_and_lower_halves() -> None:
    astronaut = skimage_data.astronaut()[:, 100:400]  # white suit top, orange-red below
    colours = object_colours(astronaut)
    assert colours.upper.shares.get("white", 0) > colours.lower.shares.get("white", 0)
    assert colours.lower.shares.get("red", 0) > colours.upper.shares.get("red", 0)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4), np.uint8), r"expected an \(H, W, 3\) uint8 RGB image, got"),
        (np.zeros((4, 4, 3), np.float32), r"expected an \(H, W, 3\) uint8 RGB image, got"),
    ],
)
def test_bad_images_are_a_clear_error(image: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        name_pixels(image)


def test_object_pass_stores_colours_and_backfill_fills_old_rows(
    workspace: Workspace, vtest_path: Path
) -> None:
    workspace.add_source(str(vtest_path), name="walkway")
    workspace.index(max_frames=3, objects=True)
    catalog = workspace.catalog
    assert objects_without_colours(catalog) == []
    assert frames_without_attributes(catalog) == []
    frame_ids = [frame_id for frame_id, _ in _all_frames(workspace)]
    found = frame_objects(catalog, frame_ids)
    people = [
        (fid, oid) for fid, f in found.items() for oid, label, _ in f.objects if label == "person"
    ]
    assert people and all(oid in found[fid].colours for fid, oid in people)
    looks = frame_attributes(catalog, frame_ids)
    assert all(0.3 < look.brightness < 0.8 for look in looks.values())  # daylight walkway

    # An archive from before the attributes table: rows gone, backfill restores them.
    with catalog.writes.begin() as session:
        from sqlalchemy import delete

        from vigil.catalog.attributes_schema import FrameAttributeRow, ObjectAttributeRow

        session.execute(delete(ObjectAttributeRow))
        session.execute(delete(FrameAttributeRow))
    assert len(objects_without_colours(catalog)) == len(people) + sum(
        1 for f in found.values() for _, label, _ in f.objects if label != "person"
    )
    frames, objects = backfill_attributes(catalog, workspace.home)
    assert (frames, objects) == (len(frame_ids), sum(len(f.objects) for f in found.values()))
    assert objects_without_colours(catalog) == []


def _all_frames(workspace: Workspace) -> list[tuple[int, str]]:
    ids = workspace.catalog.embedding_ids(workspace.embedder.model_id)
    frames = workspace.catalog.frames_for_embeddings(ids)
    return [(frame.id, frame.thumbnail_path) for frame, _ in frames.values()]

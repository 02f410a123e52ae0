"""Track search and matching (one result per track), and the pictures of a source's tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigil.catalog.tracks_store import list_tracks
from vigil.errors import InvalidInputError, NotFoundError
from vigil.tracks import TrackBuildReport
from vigil.tracks.plots import background_frame, plot_tracks, presence_heatmap, time_bins
from vigil.tracks.search import match_track, search_tracks
from vigil.tracks.zones import zones_from_yaml
from vigil.workspace import Workspace

from .conftest import run_build, track_settings


def test_search_returns_each_track_once(tracked: tuple[Workspace, TrackBuildReport]) -> None:
    workspace, _ = tracked
    hits = search_tracks(
        "a person walking", catalog=workspace.catalog, embedder=workspace.embedder, limit=50
    )
    ids = [hit.track.id for hit in hits]
    assert len(ids) == len(set(ids)) == len(list_tracks(workspace.catalog))
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    only_cars = search_tracks(
        "a car", catalog=workspace.catalog, embedder=workspace.embedder, label="car"
    )
    assert only_cars and {hit.track.label for hit in only_cars} == {"car"}
    with pytest.raises(InvalidInputError, match="must not be empty"):
        search_tracks(" ", catalog=workspace.catalog, embedder=workspace.embedder)


def test_a_track_is_matched_on_another_camera(
    tracked: tuple[Workspace, TrackBuildReport], excerpt: Path
) -> None:
    workspace, _ = tracked
    # The same clip registered as a second camera: each track has its twin there.
    second = workspace.add_source(str(excerpt), name="walkway-copy")
    run_build(workspace, second)
    try:
        [query] = [
            t
            for t in list_tracks(workspace.catalog, source_ids=[1], label="person")
            if t.colours["upper"] == "red"
        ][:1] or list_tracks(workspace.catalog, source_ids=[1], label="person")[:1]
        hits = match_track(
            query.id, catalog=workspace.catalog, model_id=workspace.embedder.model_id
        )
        assert hits and all(h.source.id == second.id and h.track.label == "person" for h in hits)
        best = hits[0].track
        assert best.first_media_time == pytest.approx(query.first_media_time, abs=0.01)
        assert hits[0].appearance == pytest.approx(1.0, abs=1e-3)
        with pytest.raises(NotFoundError):
            match_track(10**6, catalog=workspace.catalog, model_id=workspace.embedder.model_id)
    finally:
        workspace.remove_source(second.id)
    assert not list_tracks(workspace.catalog, source_ids=[second.id])
    assert not (workspace.home / "tracks" / str(second.id)).exists()


def test_plots_are_written(tracked: tuple[Workspace, TrackBuildReport], tmp_path: Path) -> None:
    workspace, _ = tracked
    source = workspace.get_source("walkway")
    tracks = list_tracks(workspace.catalog, source_ids=[source.id])
    heat = presence_heatmap(tracks, 768, 576)
    assert heat.shape == (576, 768) and heat.max() > 0
    # The parked cars are present the whole time: the hottest place is on them.
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert row < 200 and column > 600
    bins = time_bins(tracks)
    assert bins.unit == "media minute" and sum(sum(c) for c in bins.counts.values()) == len(tracks)
    background = background_frame(source, workspace.home)
    assert background is not None and background.shape == (576, 768, 3)
    zones = zones_from_yaml("lines: [{name: l, points: [[500, 350], [500, 576]]}]")
    path = plot_tracks(tracks, tmp_path / "walkway.png", background=background, zones=zones)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 1000
    with pytest.raises(InvalidInputError, match="no tracks"):
        plot_tracks([], tmp_path / "empty.png")
    with pytest.raises(InvalidInputError, match="PNG"):
        plot_tracks(tracks, tmp_path / "walkway.jpg")


@pytest.mark.real_model
def test_real_pooled_vectors_rank_cars_first_for_a_car(excerpt: Path, tmp_path: Path) -> None:
    """The concept-bridge embedder on real crops: one hit per tracked object, and the
    parked cars (two tracks) rank above every person for "a car"."""
    from vigil.embedders import create_embedder
    from vigil.settings import EmbedderSettings

    embedder = create_embedder(EmbedderSettings(name="concept-bridge"))
    settings = track_settings(tmp_path / "ws").model_copy(
        update={"embedder": EmbedderSettings(name="concept-bridge")}
    )
    with Workspace.open(settings, embedder=embedder) as workspace:
        source = workspace.add_source(str(excerpt), name="walkway")
        run_build(workspace, source)
        tracks = list_tracks(workspace.catalog)
        cars = [t for t in tracks if t.label == "car"]
        hits = search_tracks(
            "a car", catalog=workspace.catalog, embedder=workspace.embedder, limit=len(tracks)
        )
        assert len({h.track.id for h in hits}) == len(hits) == len(tracks)
        assert cars and {h.track.label for h in hits[: len(cars)]} == {"car"}
        people = search_tracks(
            "a person walking", catalog=workspace.catalog, embedder=workspace.embedder, limit=3
        )
        assert {h.track.label for h in people} == {"person"}

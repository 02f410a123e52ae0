"""Zones kept per source, and the site plan: two real vtest excerpts as two cameras.

The second "camera" is the 8 s of vtest.avi right after the first excerpt: the same
walkers go on, so tracks on one look like tracks on the other, as on two cameras of
one walkway. The plan is a drawn floor plan (any image is a plan).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vigil.api import create_app
from vigil.cli.main import app
from vigil.errors import InvalidInputError, NotFoundError
from vigil.sources.images import read_image
from vigil.tracks.zones import zones_from_yaml
from vigil.workspace import Workspace

from .conftest import floor_plan
from .test_zones import ZONES


def test_zones_are_kept_per_source_and_checked(two_cameras: Workspace) -> None:
    tracks = two_cameras.tracks
    saved = tracks.save_zones("walkway", zones_from_yaml(ZONES))
    assert saved.frame_wh == (768, 576)  # taken from the source's own frame
    assert tracks.stored_zones("walkway") == saved
    assert tracks.stored_zones("walkway-next") is None
    report = tracks.zones("walkway")  # no file: the stored zones
    assert report.areas["line:lawn-line"].crossings["left_to_right"] >= 1
    with pytest.raises(InvalidInputError, match="reaches outside"):
        tracks.save_zones(
            "walkway", zones_from_yaml("zones: [{name: a, polygon: [[0, 0], [900, 0], [9, 9]]}]")
        )
    assert tracks.stored_zones("walkway") == saved  # the bad set replaced nothing
    with pytest.raises(InvalidInputError, match="has no zones"):
        tracks.zones("walkway-next")
    with pytest.raises(NotFoundError):
        tracks.save_zones("nowhere", saved)


def test_site_plan_cameras_counts_and_handovers(two_cameras: Workspace, tmp_path: Path) -> None:
    tracks = two_cameras.tracks
    plan = tracks.set_plan("ground-floor", floor_plan(tmp_path / "plan.png"))
    assert (plan.width, plan.height) == (800, 500) and plan.placements == []
    tracks.place("ground-floor", "walkway", 200, 250, 0)
    placed = tracks.place("ground-floor", "walkway-next", 600, 250, 180)
    assert [p.source_id for p in placed.placements] == [
        two_cameras.get_source("walkway").id,
        two_cameras.get_source("walkway-next").id,
    ]
    with pytest.raises(InvalidInputError, match="outside the 800x500 plan"):
        tracks.place("ground-floor", "walkway", 900, 10)
    view = tracks.site("ground-floor", min_score=0.5)
    data = view.to_dict()
    assert all(camera["tracks"].get("person", 0) >= 3 for camera in data["cameras"])
    # The same walkers on both "cameras": some person tracks on one best match the other.
    assert data["links"] and data["links"][0]["handovers"] >= 1
    assert data["links"][0]["ordered"] is False  # files: no capture times to order them
    assert all(h.score >= 0.5 for h in view.handovers)
    strict = tracks.site("ground-floor", min_score=0.999)
    assert len(strict.handovers) <= len(view.handovers)
    drawn = tracks.plot_site(view, tmp_path / "site.png")
    image = read_image(drawn)
    assert image.shape[:2] == (500, 800)
    assert (np.abs(image.astype(int) - 245).sum(axis=2) > 60).sum() > 2_000  # cameras drawn
    with pytest.raises(InvalidInputError, match="plan name"):
        tracks.set_plan("../../etc", floor_plan(tmp_path / "p2.png"))
    with pytest.raises(NotFoundError, match="no site plan"):
        tracks.site("basement")


def test_rest_zones_plots_and_site(two_cameras: Workspace, tmp_path: Path) -> None:
    source = two_cameras.get_source("walkway-next")
    with TestClient(create_app(two_cameras.settings)) as client:
        background = client.get(f"/api/v1/sources/{source.id}/background")
        assert background.status_code == 200 and background.headers["content-type"] == "image/jpeg"
        plot = client.get(f"/api/v1/sources/{source.id}/tracks/plot")
        assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"
        assert client.get(f"/api/v1/sources/{source.id}/zones").status_code == 404
        body = {"lines": [{"name": "path", "points": [[500, 350], [500, 576]]}]}
        put = client.put(f"/api/v1/sources/{source.id}/zones", json=body)
        assert put.status_code == 200 and put.json()["frame_wh"] == [768, 576]
        counted = client.post(f"/api/v1/sources/{source.id}/zones/count")
        assert counted.status_code == 200 and counted.json()["areas"][0]["name"] == "path"
        outside = {"zones": [{"name": "a", "polygon": [[0, 0], [5000, 0], [0, 9]]}]}
        bad = client.put(f"/api/v1/sources/{source.id}/zones", json=outside)
        assert bad.status_code == 422 and "reaches outside" in bad.json()["detail"]
        plan = floor_plan(tmp_path / "plan.png").read_bytes()
        up = client.put("/api/v1/site/plans/lobby", files={"file": ("plan.png", plan, "image/png")})
        assert up.status_code == 200 and up.json()["plan"]["width"] == 800
        cam = client.put(
            f"/api/v1/site/plans/lobby/cameras/{source.id}",
            json={"x": 100, "y": 100, "direction_deg": 90},
        )
        assert cam.status_code == 200 and cam.json()["cameras"][0]["source"] == "walkway-next"
        image = client.get("/api/v1/site/plans/lobby/image")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert "lobby" in client.get("/api/v1/site/plans").json()
        for method, path, kwargs, status in [
            ("put", "/api/v1/site/plans/lobby", {"files": {"file": ("x.png", b"nope")}}, 415),
            ("put", "/api/v1/site/plans/lo..by", {"files": {"file": ("x.png", plan)}}, 422),
            ("get", "/api/v1/site/plans/nothere", {}, 404),
            (
                "put",
                f"/api/v1/site/plans/lobby/cameras/{source.id}",
                {"json": {"x": 5000, "y": 1}},
                422,
            ),
            ("put", "/api/v1/site/plans/lobby/cameras/999999", {"json": {"x": 5, "y": 1}}, 404),
            ("delete", "/api/v1/site/plans/lobby/cameras/999999", {}, 404),
            ("get", "/api/v1/sources/999999/background", {}, 404),
            ("delete", "/api/v1/sources/999999/zones", {}, 404),
        ]:
            answer = getattr(client, method)(path, **kwargs)
            assert answer.status_code == status, (path, answer.text)


def test_site_cli(two_cameras: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(two_cameras.home))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    assert "800x500" in run(
        "site", "plan", str(floor_plan(tmp_path / "plan.png")), "--name", "yard"
    )
    run("site", "place", "walkway", "--x", "50", "--y", "60", "--plan", "yard")
    shown = json.loads(run("site", "show", "yard", "--json", "--plot", str(tmp_path / "y.png")))
    assert shown["cameras"][0]["source"] == "walkway" and (tmp_path / "y.png").stat().st_size
    assert run("site", "place", "walkway", "--x", "5000", "--y", "1", "--plan", "yard", code=1)
    assert run("site", "show", "nothere", code=1).startswith("error: no site plan")

"""The console's zone editor and site plan, driven in headless Chromium over a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.api.conftest import ARTIFACTS, LiveServer
from vigil.api import create_app
from vigil.workspace import Workspace

from .conftest import floor_plan

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def server(two_cameras: Workspace) -> Iterator[LiveServer]:
    app = create_app(two_cameras.settings, workspace_factory=lambda _: two_cameras)
    with LiveServer(app) as live:
        yield live


def click_frame(on: Page, x: int, y: int) -> None:
    """Click at (x, y) in the frame's own pixels (the canvas is scaled to fit the page)."""
    box = on.locator("#canvas").bounding_box()
    assert box is not None
    on.mouse.click(box["x"] + x * box["width"] / 768, box["y"] + y * box["height"] / 576)


def test_draw_zones_save_count_and_see_the_plots(
    page: Page,
    server: LiveServer,
    two_cameras: Workspace,
) -> None:
    source = two_cameras.get_source("walkway")
    page.goto(f"{server.url}/console/tracks.html?source={source.id}")
    expect(page.locator("#status")).to_contain_text("no zones yet")
    page.wait_for_function("document.querySelector('#canvas').width === 768")
    page.fill("#shape-name", "lawn")
    page.click("#new-zone")
    for x, y in [(5, 425), (760, 425), (760, 570), (5, 570)]:
        click_frame(page, x, y)
    page.click("#finish")
    page.fill("#shape-name", "path")
    page.click("#new-line")
    click_frame(page, 500, 350)
    click_frame(page, 500, 570)
    page.fill("[aria-label='intrusion lawn']", "person")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("saved 2 zones and lines")
    stored = two_cameras.tracks.stored_zones(source.id)
    assert stored is not None and stored.frame_wh == (768, 576)
    assert stored.zones[0].name == "lawn" and stored.zones[0].intrusion == ["person"]
    (x1, _), (_, y2) = stored.lines[0].points
    assert abs(x1 - 500) <= 3  # where it was clicked, in frame pixels
    assert y2 == 576  # clicked 6 px short of the bottom: snapped to the edge
    page.click("#count")
    expect(page.locator("#counts")).to_contain_text("line path")
    # The walkers crossing the lawn leftwards are counted on the snapped line.
    expect(page.locator("#counts")).not_to_contain_text("0 left-to-right")
    expect(page.locator("#status")).to_contain_text("events:")
    page.wait_for_function("document.querySelector('#plot').naturalWidth > 600")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-zones.png"), full_page=True)
    # Back to a clean state for the other tests of this session's workspace.
    with TestClient(create_app(two_cameras.settings)) as client:
        assert client.delete(f"/api/v1/sources/{source.id}/zones").status_code == 204


def test_upload_a_plan_and_place_cameras(
    page: Page,
    server: LiveServer,
    two_cameras: Workspace,
    tmp_path: Path,
) -> None:
    page.goto(f"{server.url}/console/site.html")
    page.fill("#plan-name", "floor")
    page.set_input_files("#plan-file", str(floor_plan(tmp_path / "plan.png")))
    page.click("#upload button[type=submit]")
    expect(page.locator("#status")).to_contain_text("0 cameras on floor")
    page.fill("#min-score", "0.5")
    for name, (x, y) in (("walkway", (200, 250)), ("walkway-next", (600, 250))):
        page.select_option("#camera", label=name)
        box = page.locator("#overlay").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + x * box["width"] / 800, box["y"] + y * box["height"] / 500)
        expect(page.locator(".camera-label", has_text=name)).to_have_count(1)
    expect(page.locator("#status")).to_contain_text("2 cameras on floor")
    expect(page.locator(".camera-label").first).to_contain_text("person")
    plan = two_cameras.tracks.plan("floor")
    assert [(round(p.x / 10), round(p.y / 10)) for p in plan.placements] == [(20, 25), (60, 25)]
    # Handovers between the two (the same walkers on both) are drawn and listed.
    expect(page.locator("line.link")).to_have_count(1)
    expect(page.locator("#links")).to_contain_text("walkway ↔ walkway-next")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-site.png"), full_page=True)

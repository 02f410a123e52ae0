"""The web console driven in headless Chromium (Debian's, through Playwright) against a
real uvicorn server over the real model and the real clip; screenshots go to
test-artifacts/api/."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, sync_playwright

from tests.api.conftest import ARTIFACTS, LiveServer, wait_for_job

pytestmark = pytest.mark.real_model

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def server(real_app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(real_app) as live:
        yield live


SCENARIO = {
    "name": "walkers",
    "classes": [
        {"name": "people", "prompts": ["people walking", "a person"]},
        {"name": "vehicles", "prompts": ["a car on a road", "a truck"]},
    ],
    "alert_classes": ["people"],
}


@pytest.fixture(scope="module")
def with_scenario(real_app: FastAPI) -> FastAPI:
    """A scenario auto-labeled over the indexed frames and run on the clip for a few seconds."""
    client = TestClient(real_app)
    created = client.post("/api/v1/scenarios", json={"spec": SCENARIO})
    assert created.status_code == 201, created.text
    labeled = client.post("/api/v1/scenarios/walkers/autolabel", json={})
    assert wait_for_job(client, labeled.json()["id"])["status"] == "succeeded"
    run = client.post(
        "/api/v1/jobs/run",
        json={"models": ["scenario:walkers"], "sources": ["walkway"], "duration_s": 8},
    )
    assert run.status_code == 202, run.text
    assert wait_for_job(client, run.json()["id"])["status"] == "succeeded"
    return real_app


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_search_for_people_shows_thumbnails_then_more_like_this(
    server: LiveServer, page: Page
) -> None:
    p = page
    p.goto(f"{server.url}/")
    p.fill("#q", "person")
    p.press("#q", "Enter")
    p.wait_for_selector(".hit img")
    p.wait_for_function(
        "() => [...document.querySelectorAll('.hit img')].slice(0, 6)"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    cards = p.locator(".hit")
    assert cards.count() >= 20
    assert "walkway" in cards.first.inner_text()
    width = p.evaluate("document.querySelector('.hit img').naturalWidth")
    assert width == 320
    assert "frames for “person”" in p.inner_text("#status")
    shot(p, "search-person.png")

    first_frame = cards.first.get_attribute("data-frame")
    # The id a person copies into YAML or the CLI, in the one form used everywhere.
    assert cards.first.locator(".item-id").inner_text() == f"frame:{first_frame}"
    cards.nth(3).locator("button.more").click()
    p.wait_for_url("**similar=*")
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('frame ')")
    assert p.locator(".hit").count() >= 20
    assert first_frame is not None
    shot(p, "search-more-like-this.png")


def test_sources_page_shows_health_and_jobs(server: LiveServer, page: Page) -> None:
    p = page
    p.goto(f"{server.url}/console/sources.html")
    row = p.locator("#sources tbody tr").first
    row.wait_for()
    text = row.inner_text()
    assert "walkway" in text and "frames" in text
    assert p.locator("#jobs tbody tr").first.inner_text().count("succeeded") == 1
    p.fill("#location", "/etc/passwd")
    p.click("text=Add source")
    p.wait_for_selector("#status.error")
    assert "outside the workspace home" in p.inner_text("#status")
    shot(p, "sources.png")


def test_review_an_item_with_the_keyboard(
    with_scenario: FastAPI, server: LiveServer, page: Page
) -> None:
    p = page
    p.goto(f"{server.url}/console/review.html?scenario=walkers")
    p.wait_for_selector("#review:not([hidden])")
    p.wait_for_function("() => document.querySelector('#item-image').naturalWidth > 0")
    first = p.inner_text("#item-name")
    assert first.startswith("frame:")
    shot(p, "review-before.png")
    p.keyboard.press("2")  # the second class: vehicles
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('labeled')")
    assert f"{first} labeled vehicles" in p.inner_text("#status")
    assert p.inner_text("#done") == "1"
    assert p.inner_text("#item-name") != first  # moved on to the next item
    shot(p, "review-after.png")
    exported = TestClient(with_scenario).get("/api/v1/scenarios/walkers/export").text
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert (rows[first]["human_label"], rows[first]["origin"]) == ("vehicles", "human")


def test_open_an_event_and_see_its_evidence(
    with_scenario: FastAPI, server: LiveServer, page: Page
) -> None:
    p = page
    p.goto(f"{server.url}/console/events.html")
    first = p.locator("#timeline li").first
    first.wait_for()
    assert "walkers" in first.inner_text()
    first.click()
    p.wait_for_selector("#timeline li.open img.evidence-peak")
    p.wait_for_function(
        "() => document.querySelector('img.evidence-peak').complete"
        " && document.querySelector('img.evidence-peak').naturalWidth > 0"
    )
    assert "peak" in first.inner_text() and "alerts:" in first.inner_text()
    shot(p, "event-open.png")


def test_unusual_page_ranks_a_sources_frames(server: LiveServer, page: Page) -> None:
    p = page
    p.goto(f"{server.url}/console/unusual.html")
    p.wait_for_selector("#results figure img")
    p.wait_for_function(
        "() => [...document.querySelectorAll('#results img')].slice(0, 3)"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    captions = p.locator("#results figcaption")
    assert captions.count() >= 5
    assert captions.first.inner_text().startswith("#1 · frame:")
    assert "most unusual frames" in p.inner_text("#status")
    shot(p, "unusual.png")

"""The web console driven in headless Chromium (Debian's, through Playwright) against a
real uvicorn server over the real model and the real clip; screenshots go to
test-artifacts/api/.

The clip is vtest remuxed (no re-encoding) into Matroska with a creation time, so its
frames have a wall-clock capture time as a camera recording would; its objects are
detected by the real COCO detector, so hits have boxes to draw."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import av
import matplotlib
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page

from tests.api.conftest import ARTIFACTS, LiveServer, api_settings, index_vtest, wait_for_job
from vigil.api import create_app
from vigil.catalog.models_store import ModelKind, start_model
from vigil.embedders.base import Embedder
from vigil.workspace import Workspace

matplotlib.use("Agg")
import matplotlib.pyplot as plt

pytestmark = pytest.mark.real_model

CAPTURED = "2026-11-20T08:00:00.000000Z"  # the recording's start, as a camera stamps it
SCANNED = 6  # frames scanned for objects


def stamp_clip(source: Path, target: Path) -> Path:
    """Copy the clip's packets into Matroska with a creation time (what the reader reads)."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="matroska") as dst:
        dst.metadata["creation_time"] = CAPTURED
        video = src.streams.video[0]
        out = dst.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is None:
                continue  # the demuxer's empty flush packet
            packet.stream = out
            dst.mux(packet)
    return target


@pytest.fixture(scope="module")
def console_app(
    tmp_path_factory: pytest.TempPathFactory, vtest_path: Path, real_embedder: Embedder
) -> Iterator[FastAPI]:
    """The real model over 25 s of the stamped clip at 1 s, its first frames with objects."""
    media = tmp_path_factory.mktemp("media")
    clip = stamp_clip(vtest_path, media / "walkway.mkv")
    settings = api_settings(
        tmp_path_factory.mktemp("console") / "home", media, embedder="concept-bridge"
    )
    app = create_app(
        settings, workspace_factory=lambda s: Workspace.open(s, embedder=real_embedder)
    )
    with TestClient(app) as client:
        index_vtest(client, clip, 25)
        # The detector and crop embedder on the first frames only: seconds per frame here.
        app.state.services.workspace.index_objects(max_frames=SCANNED)
        yield app


@pytest.fixture(scope="module")
def server(console_app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(console_app) as live:
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
def with_scenario(console_app: FastAPI) -> FastAPI:
    """A scenario auto-labeled over the indexed frames and run on the clip for a few seconds."""
    client = TestClient(console_app)
    created = client.post("/api/v1/scenarios", json={"spec": SCENARIO})
    assert created.status_code == 201, created.text
    labeled = client.post("/api/v1/scenarios/walkers/autolabel", json={})
    assert wait_for_job(client, labeled.json()["id"])["status"] == "succeeded"
    run = client.post(
        "/api/v1/jobs/run",
        # Both classes: the scenario's alert_classes (people) alone are the run's default.
        json={
            "models": ["scenario:walkers"],
            "sources": ["walkway"],
            "duration_s": 8,
            "classes": ["people", "vehicles"],
        },
    )
    assert run.status_code == 202, run.text
    assert wait_for_job(client, run.json()["id"])["status"] == "succeeded"
    return console_app


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def reveal(page: Page) -> None:
    """Show the hits: a search with no confident match shows them when asked to."""
    page.wait_for_selector(".hit img, #doubt:not([hidden])")
    if page.is_visible("#doubt"):
        page.click("#show-nearest")


def thumbnails_loaded(page: Page, count: int = 6) -> None:
    page.wait_for_selector(".hit img")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.hit img')].slice(0, {count})"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


def test_search_pages_filters_and_a_hit_opened_large_with_boxes_and_clip(
    console_app: FastAPI, server: LiveServer, page: Page
) -> None:
    client = TestClient(console_app)
    with_boxes = [
        i for i in range(1, SCANNED + 1) if client.get(f"/api/v1/frames/{i}/view").json()["objects"]
    ]
    assert with_boxes, "the detector finds the walking people in the first seconds"
    p = page
    p.goto(f"{server.url}/")
    p.fill("#q", "a dog")
    p.press("#q", "Enter")
    # No dog in vtest: the calibrated search (search/trust.py) is not confident, the page
    # says so, and shows the nearest only when asked.
    p.wait_for_selector("#doubt:not([hidden])")
    assert p.locator(".hit").count() == 0
    assert "no confident match" in p.inner_text("#status")
    p.click("#show-nearest")
    thumbnails_loaded(p)
    assert "nearest=1" in p.url and "none confident" in p.inner_text("#status")
    # People are there (the detector finds them): a confident answer, shown at once.
    p.fill("#q", "person")
    p.press("#q", "Enter")
    p.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('frames for “person”')"
    )
    thumbnails_loaded(p)
    assert "none confident" not in p.inner_text("#status") and "nearest" not in p.url
    assert p.locator("#doubt").is_hidden()
    cards = p.locator(".hit")
    assert cards.count() == 24  # one page of 24: 25 frames are indexed
    first = cards.first.inner_text()
    # Wall-clock capture time (the recording's start + media time) and a calibrated
    # confidence, not a cosine.
    assert "walkway" in first and "2026-11-20 08:00:" in first and "% confident" in first
    assert p.evaluate("document.querySelector('.hit img').naturalWidth") == 320
    assert "frames for “person”" in p.inner_text("#status")
    assert "q=person" in p.url
    shot(p, "search-person.png")
    first_frame = cards.first.get_attribute("data-frame")
    # The id a person copies into YAML or the CLI, in the one form used everywhere.
    assert cards.first.locator(".item-id").inner_text() == f"frame:{first_frame}"
    page_one = {cards.nth(i).get_attribute("data-frame") for i in range(24)}

    p.click("#next")
    p.wait_for_url("**offset=24*")
    p.wait_for_function("() => document.querySelector('#page').textContent.startsWith('25')")
    page_two = {cards.nth(i).get_attribute("data-frame") for i in range(cards.count())}
    assert page_two and not page_two & page_one
    p.go_back()
    p.wait_for_function("() => document.querySelector('#page').textContent.startsWith('1–24')")
    assert "offset" not in p.url

    boxed = next(i for i in with_boxes if str(i) in page_one)
    p.locator(f'.hit[data-frame="{boxed}"] button.open').click()
    p.wait_for_selector("#viewer[open] img.frame-full")
    p.wait_for_function("() => document.querySelector('#viewer img.frame-full').naturalWidth > 0")
    assert p.evaluate("document.querySelector('#viewer img.frame-full').naturalWidth") == 768
    boxes = p.locator("#viewer svg.boxes rect")
    assert boxes.count() >= 1 and "person" in p.inner_text("#viewer-objects")
    assert "walkway · 2026-11-20 08:00:" in p.inner_text("#viewer-title")
    # The clip around the hit plays in the browser: decoded, a few seconds long.
    p.wait_for_function("() => document.querySelector('#viewer-clip').readyState >= 2")
    assert 1.0 < p.evaluate("document.querySelector('#viewer-clip').duration") <= 4.5
    shot(p, "search-hit-large.png")
    p.keyboard.press("Escape")
    p.wait_for_selector("#viewer", state="hidden")

    # Objects of one class, each opened with its own box picked out.
    p.select_option("#class", "person")
    p.wait_for_url("**class=person*")
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('objects')")
    assert p.is_checked("#objects")
    assert cards.first.locator(".item-id").inner_text().startswith("object:")
    cards.first.locator("button.open").click()
    p.wait_for_selector("#viewer[open] svg.boxes .box.focus")
    assert p.locator("#viewer .box.focus").count() == 1
    p.click("#viewer-close")

    # The capture date decides: the day after the recording has nothing, its day has it all.
    p.fill("#since", "2026-11-21")
    p.wait_for_function("() => document.querySelector('#status').textContent.startsWith('nothing')")
    assert p.locator(".hit").count() == 0 and "since=2026-11-21" in p.url
    p.fill("#since", "2026-11-20")
    thumbnails_loaded(p, 3)
    assert cards.count() >= 10

    cards.nth(3).locator("button.more").click()
    p.wait_for_url("**similar=*")
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('frame ')")
    assert p.locator(".hit").count() >= 10


def test_the_url_follows_a_picture_search_through_reload_and_back(
    console_app: FastAPI, server: LiveServer, page: Page
) -> None:
    client = TestClient(console_app)
    hit = client.get("/api/v1/search", params={"q": "person", "limit": 1}).json()["hits"][0]
    picture = client.get(hit["thumbnail_url"]).content
    p = page
    p.goto(f"{server.url}/?similar={hit['frame_id']}")
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('frame ')")
    p.set_input_files(
        "#image", files=[{"name": "frame.jpg", "mimeType": "image/jpeg", "buffer": picture}]
    )
    p.wait_for_url("**picture=*")
    reveal(p)
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('image')")
    assert "similar" not in p.url
    top = p.locator(".hit").first.get_attribute("data-frame")
    assert top is not None and p.locator(".hit").count() >= 10
    p.reload()
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('image')")
    assert p.locator(".hit").first.get_attribute("data-frame") == top
    p.go_back()
    p.wait_for_url("**similar=*")
    p.wait_for_function("() => document.querySelector('#status').textContent.includes('frame ')")


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
    client = TestClient(with_scenario)
    # Skip (J) to an item whose frame the detector has scanned and found objects on.
    for _ in range(25):
        p.wait_for_function(
            "() => document.querySelector('#item-figure img.frame-full')?.naturalWidth > 0"
        )
        shown = p.inner_text("#item-name").removeprefix("frame:")
        stored = client.get(f"/api/v1/frames/{shown}/view").json()["objects"]
        if stored:
            break
        p.keyboard.press("j")
        p.wait_for_function(
            f"() => document.querySelector('#item-name').textContent !== 'frame:{shown}'"
        )
    # The frame at full resolution with its boxes, the camera and the capture time.
    p.wait_for_selector("#item-figure svg.boxes rect")
    p.wait_for_function(
        "() => document.querySelector('#item-figure img.frame-full').naturalWidth > 0"
    )
    assert p.evaluate("document.querySelector('#item-figure img.frame-full').naturalWidth") == 768
    assert p.locator("#item-figure svg.boxes rect").count() == len(stored) >= 1
    where = p.inner_text("#item-where")
    assert "walkway" in where and "2026-11-20 08:00:" in where and "person" in where
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
    # Correct it to the other class: a label of the scenario, or one clear refusal when
    # the event's peak lies beyond the indexed first 25 s.
    first.locator("button.correct").click()
    p.wait_for_function(
        "() => /corrected as|no indexed frame/.test(document.querySelector('#status').textContent)"
    )
    assert first.locator(".detail").count() == 1  # the click did not fold the event
    shot(p, "event-feedback.png")
    # Triage: mark it reviewed; the mark is stored, so a reload still shows it.
    first.locator("button.triage").click()
    p.wait_for_selector("#timeline li >> nth=0 >> button.triage[data-reviewed=yes]")
    p.reload()
    reviewed = p.locator("#timeline li").first.locator("button.triage")
    reviewed.wait_for()
    assert reviewed.get_attribute("data-reviewed") == "yes"
    assert "reviewed" in reviewed.inner_text()
    event_id = p.locator("#timeline li").first.get_attribute("data-event")
    stored = TestClient(with_scenario).get(f"/api/v1/events/{event_id}").json()
    assert stored["reviewed_at"] is not None


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


def test_models_page_lists_no_test_backend_and_shows_plots_whole(
    console_app: FastAPI, server: LiveServer, page: Page
) -> None:
    """A distilled model's report plot (three confusion panels: float, pruned, int8, drawn
    at the report's own size) is shown whole, not cropped to the cards' 4:3 photos."""
    workspace = console_app.state.services.workspace
    record = start_model(
        workspace.catalog,
        name="walkers-plot-check",
        scenario="walkers-plots",
        scenario_version=1,
        kind=ModelKind.FLOAT,
        architecture="layout check",
        snapshot={},
    )
    folder = workspace.home / "models" / str(record.id)
    folder.mkdir(parents=True)
    fig, axes = plt.subplots(1, 3, figsize=(3.6 * 3, 3.8))
    for ax, name in zip(axes, ("float", "pruned", "int8"), strict=True):
        ax.set_title(name)
    fig.savefig(folder / "confusion.png", dpi=100)
    plt.close(fig)
    p = page
    p.goto(f"{server.url}/console/models.html")
    p.wait_for_selector("#embedders tbody tr")
    names = p.locator("#embedders tbody td:first-child").all_inner_texts()
    assert "concept-bridge" in names and "fake" not in names
    plot = p.locator(".plots img").first
    plot.wait_for()
    p.wait_for_function("() => document.querySelector('.plots img').naturalWidth > 0")
    shown = plot.evaluate(
        "img => ({w: img.clientWidth, h: img.clientHeight, nw: img.naturalWidth,"
        " nh: img.naturalHeight, fit: getComputedStyle(img).objectFit})"
    )
    assert shown["fit"] != "cover"
    assert shown["w"] / shown["h"] == pytest.approx(shown["nw"] / shown["nh"], rel=0.02)
    shot(p, "models-plots.png")


@pytest.mark.parametrize(
    ("path", "ready"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")],
)
def test_api_docs_load_with_no_request_off_this_machine(
    server: LiveServer, page: Page, outside: list[str], path: str, ready: str
) -> None:
    p = page
    p.goto(f"{server.url}{path}")
    title = p.locator(ready).first
    title.wait_for(timeout=60_000)  # megabytes of script to parse on a loaded machine
    assert "Vigil" in title.inner_text()
    assert outside == []
    shot(p, f"docs{path.replace('/', '-')}.png", full_page=False)  # ReDoc's page is long


def test_label_a_search_hit_as_a_scenario_class(
    with_scenario: FastAPI, server: LiveServer, page: Page
) -> None:
    """Issue 16.3: a search hit corrected from the console becomes a label with provenance."""
    p = page
    p.goto(f"{server.url}/?q=a%20car%20on%20a%20road&nearest=1")
    thumbnails_loaded(p)
    card = p.locator(".hit").first
    item = card.locator(".item-id").inner_text()
    card.locator("button.open").click()
    p.wait_for_selector("#viewer[open] #label-hit:not([hidden])")
    assert p.input_value("#label-scenario") == "walkers"
    p.select_option("#label-class", "people")
    p.click("#label-hit button[type=submit]")
    p.wait_for_function(
        "() => document.querySelector('#label-done').textContent.includes('labeled')"
    )
    assert p.inner_text("#label-done") == f"{item} labeled people in walkers"
    exported = TestClient(with_scenario).get("/api/v1/scenarios/walkers/export").text
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert rows[item]["human_label"] == "people"
    p.click("#viewer-close")

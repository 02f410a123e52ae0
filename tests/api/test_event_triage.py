"""Event triage over REST: PATCH marks an event reviewed (kept through a reload of the
catalog), marking again keeps the first look, false clears it; bad input is a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vigil.catalog.events_store import EventStore, NewEvent
from vigil.catalog.store import Catalog


@pytest.fixture
def event_id(fake_client: TestClient, vtest_path: Path) -> int:
    source = fake_client.post("/api/v1/sources", json={"location": str(vtest_path)}).json()
    catalog = fake_client.app.state.services.workspace.catalog  # type: ignore[attr-defined]
    start = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    event = EventStore(catalog.engine).open_event(
        NewEvent(
            source_id=source["id"],
            model_id="scenario:walkers@1",
            scenario="walkers",
            class_name="people",
            started_at=start,
            last_seen_at=start + timedelta(seconds=2),
            peak_score=0.9,
            peak_at=start + timedelta(seconds=1),
            frames=3,
            details={},
        ),
        [],
    )
    return event.id


def test_mark_reviewed_then_unreviewed(fake_client: TestClient, event_id: int) -> None:
    url = f"/api/v1/events/{event_id}"
    assert fake_client.get(url).json()["reviewed_at"] is None
    marked = fake_client.patch(url, json={"reviewed": True, "by": "night shift"})
    assert marked.status_code == 200, marked.text
    first = marked.json()["reviewed_at"]
    assert first is not None and marked.json()["reviewed_by"] == "night shift"
    again = fake_client.patch(url, json={"reviewed": True, "by": "day shift"}).json()
    assert (again["reviewed_at"], again["reviewed_by"]) == (first, "night shift")
    listed = fake_client.get("/api/v1/events").json()
    assert [e["reviewed_at"] for e in listed] == [first]
    home = fake_client.app.state.services.home  # type: ignore[attr-defined]
    with Catalog.open(Path(home) / "catalog.db", read_only=True) as reopened:
        stored = EventStore(reopened.engine).get_event(event_id)
    assert stored.reviewed_by == "night shift"
    cleared = fake_client.patch(url, json={"reviewed": False}).json()
    assert cleared["reviewed_at"] is None and cleared["reviewed_by"] is None


@pytest.mark.parametrize(
    ("event", "body", "status"),
    [
        (999999, {"reviewed": True}, 404),
        (None, {}, 422),
        (None, {"reviewed": "maybe"}, 422),
        (None, {"reviewed": True, "extra": 1}, 422),
        (None, {"reviewed": True, "by": "x" * 201}, 422),
    ],
)
def test_bad_triage_requests(
    fake_client: TestClient, event_id: int, event: int | None, body: dict[str, object], status: int
) -> None:
    answer = fake_client.patch(f"/api/v1/events/{event or event_id}", json=body)
    assert answer.status_code == status, answer.text
    assert fake_client.get(f"/api/v1/events/{event_id}").json()["reviewed_at"] is None

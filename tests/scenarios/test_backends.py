"""The scenario tables and queries on both catalog backends (SQLite file and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from tests.catalog.conftest import (  # noqa: F401  (fixtures: a PostgreSQL server, real frames)
    RealFrames,
    postgres_admin_url,
    postgres_url,
    real_frames,
    walkway_spec,
)

from vigil.catalog.scenarios_schema import ScenarioHumanLabelRow
from vigil.catalog.store import Catalog
from vigil.embedders.fake import FakeEmbedder
from vigil.scenarios.autolabel import autolabel
from vigil.scenarios.review import answer, review_queue
from vigil.scenarios.spec import quick_spec
from vigil.scenarios.store import save_scenario, stored_labels


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    with Catalog.open(url) as opened:
        yield opened


def test_label_answer_and_cascade_on_both_backends(
    catalog: Catalog,
    real_frames: RealFrames,  # noqa: F811
) -> None:
    source = catalog.add_source(walkway_spec())
    catalog.add_frames(source.id, real_frames.model_id, real_frames.frames, real_frames.vectors)
    embedder = FakeEmbedder()
    record = save_scenario(catalog, quick_spec("walkway", ["people", "empty path"]))
    report = autolabel(catalog, record, embedder, batch_size=16)
    assert report.labeled == report.total == len(real_frames.frames)
    assert autolabel(catalog, record, embedder).labeled == 0  # resumed: nothing left
    top = review_queue(catalog, record, embedder, limit=3)
    answer(catalog, record, top[0].item, "empty path", annotator="ana")
    answer(catalog, record, top[0].item, "people", annotator="bo")  # a second answer replaces
    labels = {label.item_id: label for label in stored_labels(catalog, record)}
    assert (labels[top[0].id].human_label, labels[top[0].id].annotator) == ("people", "bo")
    with catalog.engine.begin() as connection, pytest.raises(IntegrityError):
        connection.execute(
            ScenarioHumanLabelRow.__table__.insert().values(  # type: ignore[attr-defined]
                scenario_id=record.id,
                frame_id=top[0].id,
                object_id=1,
                label="people",
                annotator="x",
                version=1,
                created_at=record.created_at,
            )
        )
    catalog.remove_source(source.id)
    assert stored_labels(catalog, record) == []

"""Scenarios end to end on a real indexed archive (vtest.avi, fake embedder): versions,
examples, resumable auto-label, the review queue, human answers, exports, and the
items handed to distillation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from vigil.catalog.scenarios_schema import ScenarioLabelRow
from vigil.catalog.schema import FrameRow
from vigil.errors import CorruptMediaError, InvalidInputError, NotFoundError
from vigil.scenarios.spec import ScenarioSpec, quick_spec, spec_from_dict
from vigil.scenarios.store import stored_labels
from vigil.scenarios.training import training_items
from vigil.workspace import Workspace


def frame_ids(workspace: Workspace) -> list[int]:
    with workspace.catalog.engine.connect() as connection:
        return [
            int(i) for i in connection.execute(select(FrameRow.id).order_by(FrameRow.id)).scalars()
        ]


def three_classes(name: str = "walkway", **extra: object) -> ScenarioSpec:
    return spec_from_dict(
        {
            "name": name,
            "classes": [
                {"name": "crowd", "prompts": ["many people walking", "a crowd"]},
                {"name": "few people", "prompts": ["one or two people walking"]},
                {"name": "empty", "prompts": ["an empty walkway"], "negative_prompts": ["people"]},
            ],
            **extra,
        }
    )


def test_versions_are_kept_and_equal_specs_do_not_bump(workspace: Workspace) -> None:
    first = workspace.create_scenario(three_classes())
    assert (first.version, first.versions) == (1, 1)
    assert workspace.create_scenario(three_classes()).version == 1
    edited = workspace.create_scenario(three_classes(alert_threshold=0.9))
    assert (edited.version, edited.versions) == (2, 2)
    assert workspace.get_scenario("walkway", 1).spec.alert_threshold == 0.5
    assert workspace.get_scenario("walkway").spec.alert_threshold == 0.9
    assert [r.name for r in workspace.list_scenarios()] == ["walkway"]
    with pytest.raises(NotFoundError, match="no version 7"):
        workspace.get_scenario("walkway", 7)
    with pytest.raises(NotFoundError, match=r"no scenario named 'fire'.*walkway"):
        workspace.get_scenario("fire")


def test_examples_must_exist_and_decode(workspace: Workspace, tmp_path: Path) -> None:
    def with_example(example: str) -> ScenarioSpec:
        spec = three_classes()
        crowd = spec.classes[0].model_copy(update={"examples": [example]})
        return spec.model_copy(update={"classes": [crowd, *spec.classes[1:]]})

    with pytest.raises(NotFoundError, match="'frame:999999' does not exist"):
        workspace.create_scenario(with_example("frame:999999"))
    with pytest.raises(NotFoundError, match="does not exist"):
        workspace.create_scenario(with_example(str(tmp_path / "missing.jpg")))
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a picture")
    with pytest.raises(CorruptMediaError, match="cannot be decoded"):
        workspace.create_scenario(with_example(str(broken)))
    with pytest.raises(InvalidInputError, match="names a object, but the scenario labels frames"):
        workspace.create_scenario(with_example("object:1"))
    assert workspace.list_scenarios() == []  # nothing half-stored


def test_autolabel_labels_every_frame_with_provenance(workspace: Workspace) -> None:
    ids = frame_ids(workspace)
    record = workspace.create_scenario(three_classes())
    seen = []
    report = workspace.autolabel("walkway", on_progress=seen.append)
    assert (report.total, report.labeled, report.skipped) == (len(ids), len(ids), 0)
    assert report.method == "zero-shot" and report.model_id == "fake-32/zero-shot"
    assert seen[-1].done == len(ids)
    labels = stored_labels(workspace.catalog, record)
    assert [label.item_id for label in labels] == ids
    for label in labels:
        assert label.probabilities is not None and abs(sum(label.probabilities) - 1) < 1e-4
        assert label.machine_label == record.spec.class_names[int(np.argmax(label.probabilities))]
        assert label.confidence == pytest.approx(max(label.probabilities), abs=1e-5)
        assert label.origin == "machine"
    again = workspace.autolabel("walkway")
    assert (again.labeled, again.skipped) == (0, len(ids))


def test_a_stopped_run_resumes_and_a_new_version_relabels(workspace: Workspace) -> None:
    ids = frame_ids(workspace)
    workspace.settings.scenarios.autolabel_batch_size = 8
    workspace.create_scenario(three_classes())
    partial = workspace.autolabel("walkway", max_items=10)
    assert partial.labeled == 16  # whole batches of 8
    rest = workspace.autolabel("walkway")
    assert (rest.labeled, rest.skipped) == (len(ids) - 16, 16)
    with workspace.catalog.engine.connect() as connection:
        per_item = connection.execute(
            text("SELECT frame_id, COUNT(*) FROM scenario_labels GROUP BY frame_id")
        ).all()
    assert len(per_item) == len(ids) and {count for _, count in per_item} == {1}
    workspace.create_scenario(three_classes(alert_threshold=0.8))
    relabel = workspace.autolabel("walkway")
    assert (relabel.version, relabel.labeled, relabel.skipped) == (2, len(ids), 0)
    assert len(training_items(workspace.catalog, "walkway", version=1)) == len(ids)


def test_review_answers_override_and_teach_the_model(workspace: Workspace) -> None:
    ids = frame_ids(workspace)
    record = workspace.create_scenario(three_classes())
    workspace.autolabel("walkway")
    queue = workspace.review_queue("walkway", limit=5)
    assert len(queue) == 5
    assert [item.priority for item in queue] == sorted((i.priority for i in queue), reverse=True)
    assert all(item.thumbnail_path.startswith("thumbs/") for item in queue)
    for item in queue:  # uncertainty, plus a bonus that puts disagreements first
        assert item.priority == pytest.approx(1 - item.margin + (1.0 if item.disagree else 0.0))
        assert item.disagree == (item.label != item.zero_shot_label)
    first = queue[0]
    other = next(name for name in record.spec.class_names if name != first.label)
    workspace.answer("walkway", first.item, other, annotator="ana")
    assert first.item not in {item.item for item in workspace.review_queue("walkway", limit=50)}
    items = {item.id: item for item in training_items(workspace.catalog, "walkway")}
    assert items[first.id].human_label == other and items[first.id].label == other
    assert items[first.id].machine_label == first.label
    assert items[first.id].probabilities is not None
    # Two answers per class: the classifier is now chosen by cross-validation on them.
    for position, name in enumerate(record.spec.class_names * 2):
        workspace.answer("walkway", f"frame:{ids[position + 1]}", name)
    relabeled = workspace.create_scenario(three_classes(description="with answers"))
    report = workspace.autolabel("walkway")
    assert report.version == relabeled.version and report.examples == 7
    assert report.cv_accuracy.keys() == {"zero-shot", "tip-adapter", "linear-probe"}
    assert report.ece is not None


def test_bad_answers_are_clear_errors(workspace: Workspace) -> None:
    workspace.create_scenario(three_classes())
    with pytest.raises(InvalidInputError, match=r"unknown class 'fire'"):
        workspace.answer("walkway", f"frame:{frame_ids(workspace)[0]}", "fire")
    with pytest.raises(NotFoundError, match="no frame with id 999999"):
        workspace.answer("walkway", "frame:999999", "crowd")
    with pytest.raises(InvalidInputError, match="labels frames, got 'object:3'"):
        workspace.answer("walkway", "object:3", "crowd")
    with pytest.raises(InvalidInputError, match="'frame:ID' or 'object:ID'"):
        workspace.answer("walkway", "3", "crowd")


def test_exports_round_trip(workspace: Workspace, tmp_path: Path) -> None:
    ids = frame_ids(workspace)
    workspace.create_scenario(three_classes())
    with pytest.raises(NotFoundError, match="has no labels yet"):
        workspace.export_labels("walkway", "csv", tmp_path / "none.csv")
    workspace.autolabel("walkway")
    workspace.answer("walkway", f"frame:{ids[0]}", "empty")
    with pytest.raises(InvalidInputError, match="csv, coco, yolo, classification"):
        workspace.export_labels("walkway", "voc", tmp_path / "x")

    written = workspace.export_labels("walkway", "csv", tmp_path / "l.csv")
    rows = list(csv.DictReader(written.read_text().splitlines()))
    assert len(rows) == len(ids)
    assert (rows[0]["item"], rows[0]["label"], rows[0]["origin"]) == (
        f"frame:{ids[0]}",
        "empty",
        "human",
    )
    assert rows[1]["origin"] == "machine" and rows[1]["source"] == "walkway"
    assert rows[1]["frame_path"].startswith("thumbs/") and rows[1]["x1"] == ""

    # A frame scenario has no boxes: detection formats refuse it rather than invent them.
    for fmt in ("coco", "yolo"):
        with pytest.raises(InvalidInputError, match=r"labels whole frames.*'classification'"):
            workspace.export_labels("walkway", fmt, tmp_path / fmt)
    folder = workspace.export_labels("walkway", "classification", tmp_path / "classes")
    dataset = sv.ClassificationDataset.from_folder_structure(str(folder))
    assert sorted(dataset.classes) == ["crowd", "empty", "few people"]
    assert len(dataset) == len(ids)
    first = folder / "empty" / f"frame-{ids[0]}.jpg"
    with Image.open(first) as image:
        assert image.size == (768, 576)  # the camera's pixels, not the 320x240 thumbnail


def test_a_label_points_at_exactly_one_item(workspace: Workspace) -> None:
    record = workspace.create_scenario(three_classes())
    with workspace.catalog.engine.begin() as connection, pytest.raises(IntegrityError):
        connection.execute(
            ScenarioLabelRow.__table__.insert().values(  # type: ignore[attr-defined]
                scenario_id=record.id,
                version=1,
                frame_id=None,
                object_id=None,
                label="crowd",
                confidence=1.0,
                probabilities=[1.0, 0.0, 0.0],
                model_id="m",
                method="zero-shot",
                created_at=record.created_at,
            )
        )


def test_removing_a_source_removes_its_labels(workspace: Workspace) -> None:
    record = workspace.create_scenario(quick_spec("two", ["person", "van"]))
    workspace.autolabel("two")
    assert training_items(workspace.catalog, "two")
    workspace.remove_source("walkway")
    assert training_items(workspace.catalog, "two") == []
    assert workspace.get_scenario("two").version == record.version

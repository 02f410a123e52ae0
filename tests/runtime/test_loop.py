"""Closing the loop at run time: feedback, scenario defaults, hot swap, model version, drift.

One real clip (vtest.avi, indexed with the fake embedder: the frames and their
thumbnails are real) and real ImageNet EfficientNet-Lite0 classifiers registered
as two versions of the scenario ``walkway-imagenet`` (v2 reads 192 px instead of
224: another real model with the same classes).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.runtime.conftest import runtime_settings
from tests.runtime.helpers import WALKWAY_CLASSES, build_lite0_classifier
from vigil.catalog.models_promotions import promote_model, rollback_champion
from vigil.catalog.models_store import ModelKind, ModelRecord, finish_model, start_model
from vigil.catalog.types import EventQuery, EventRecord
from vigil.cli.main import app
from vigil.errors import InvalidInputError, NotFoundError
from vigil.scenarios.spec import spec_from_dict
from vigil.scenarios.store import stored_labels
from vigil.settings import SamplingSettings, Settings
from vigil.workspace import Workspace

SCENARIO = "walkway-imagenet"


def loop_settings(home: Path, **runtime: object) -> Settings:
    values: dict[str, object] = {
        "rate_fps": 1.0,
        "min_duration_s": 0.0,
        "quiet_period_s": 1.0,
        "model_poll_s": 0.2,
        "alert_log": True,
    }
    values.update(runtime)
    settings = runtime_settings(home, **values)
    return settings.model_copy(
        update={"sampling": SamplingSettings(interval_s=2.0, dedup_threshold=0.0)}
    )


def register(workspace: Workspace, name: str, path: Path, *, promote: bool = True) -> ModelRecord:
    """A ready registry model of the scenario, trained (its snapshot says) on the indexed
    vtest frames (those are the drift reference); promoted to champion unless told not."""
    frames = [f"frame:{hit}" for hit in range(1, 41)]
    record = start_model(
        workspace.catalog,
        name=name,
        scenario=SCENARIO,
        scenario_version=1,
        kind=ModelKind.FLOAT,
        architecture="efficientnet-lite0",
        snapshot={"items": len(frames), "item_ids": frames},
    )
    finished = finish_model(workspace.catalog, record.id, path, {}, "efficientnet-lite0")
    if promote:
        promote_model(workspace.catalog, finished.id)
    return finished


@pytest.fixture(scope="module")
def lite0_v2(runtime_dir: Path) -> Path:
    return build_lite0_classifier(runtime_dir / "walkway-v2.onnx", input_size=192)


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> Path:
    """vtest indexed every 2 s, the scenario stored, v1 registered; copied per test."""
    home = tmp_path_factory.mktemp("loop") / "workspace"
    with Workspace.open(loop_settings(home)) as workspace:
        source = workspace.add_source(str(vtest_path), name="walkway")
        workspace.index([source.id])
        spec = {
            "name": SCENARIO,
            "classes": [
                {"name": name, "prompts": [f"a photo of a {name}"]} for name in WALKWAY_CLASSES
            ],
            "alert_threshold": 0.3,
            "alert_classes": ["pole"],
        }
        workspace.create_scenario(spec_from_dict(spec))
    return home


@pytest.fixture
def home(indexed_home: Path, tmp_path: Path, lite0_onnx: Path) -> Path:
    copy = Path(shutil.copytree(indexed_home, tmp_path / "workspace"))
    with Workspace.open(loop_settings(copy)) as workspace:
        register(workspace, f"{SCENARIO}-v1-r1-float", Path(shutil.copy(lite0_onnx, tmp_path)))
    return copy


def run_archive(home: Path, model: str = f"{SCENARIO}-v1-r1-float", **kwargs: object) -> None:
    with Workspace.open(loop_settings(home)) as workspace:
        runner = workspace.runtime.runner([model], ["walkway"], realtime=False, **kwargs)  # type: ignore[arg-type]
        [health] = runner.run(120)
        assert health.finished and health.frames_dropped == 0, health


# -- point 5: the scenario drives the runtime ---------------------------------------------


def test_the_scenarios_threshold_and_classes_are_the_runs_defaults(home: Path) -> None:
    with Workspace.open(loop_settings(home, on_threshold=0.9)) as workspace:
        runner = workspace.runtime.runner([f"{SCENARIO}-v1-r1-float"], ["walkway"])
        [policy] = runner.recorder.policies
        assert policy.rule.on_threshold == pytest.approx(0.3)  # the scenario's, not 0.9
        assert policy.classes == frozenset({"pole"})
        flagged = workspace.runtime.runner(
            [f"{SCENARIO}-v1-r1-float"], ["walkway"], threshold=0.7, classes=["ski"]
        )
        [override] = flagged.recorder.policies
        assert override.rule.on_threshold == pytest.approx(0.7)
        assert override.classes == frozenset({"ski"})
    run_archive(home)
    with Workspace.open(loop_settings(home)) as workspace:
        events = workspace.runtime.events()
    assert events and {e.class_name for e in events} == {"pole"}
    assert all(e.details["thresholds"]["on"] == pytest.approx(0.3) for e in events)
    # Every event names the registry model that raised it.
    assert {e.model_version for e in events} == {f"{SCENARIO}-v1-r1-float"}
    assert all(e.registry_model_id == 1 for e in events)


def test_cli_flags_override_the_scenario(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    monkeypatch.setenv("VIGIL_RUNTIME__RATE_FPS", "1")
    monkeypatch.setenv("VIGIL_RUNTIME__MIN_DURATION_S", "0")
    result = CliRunner().invoke(
        app,
        [
            *("run", "--model", f"{SCENARIO}-v1-r1-float", "--source", "walkway", "--archive"),
            *("--class", "mobile home", "--threshold", "0.05", "--health-every", "60"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"model={SCENARIO}-v1-r1-float" in result.output
    listed = CliRunner().invoke(app, ["events", "list", "--json"])
    classes = {json.loads(line)["class"] for line in listed.stdout.splitlines()}
    assert classes == {"mobile home"}


# -- point 3: feedback --------------------------------------------------------------------


def test_event_feedback_becomes_a_label_with_provenance(home: Path) -> None:
    run_archive(home)
    with Workspace.open(loop_settings(home)) as workspace:
        events = workspace.runtime.events(EventQuery(limit=1000))

        def span(event: EventRecord) -> float:
            media = event.details["media_time_s"]
            return float(media["end"] - media["start"])

        first, second = sorted(events, key=span, reverse=True)[:2]
        assert span(first) >= 4.0  # two or more indexed frames (every 2 s) inside it
        corrected = workspace.runtime.feedback(first.id, label="ski", annotator="ops")
        assert corrected.verdict == "corrected" and corrected.predicted == "pole"
        assert corrected.model_version == f"{SCENARIO}-v1-r1-float"
        assert corrected.event_id == first.id and corrected.item.startswith("frame:")
        confirmed = workspace.runtime.feedback(second.id)
        assert confirmed.verdict == "confirmed" and confirmed.label == "pole"
        record = workspace.scenarios.get(SCENARIO)
        stored = {label.item: label for label in stored_labels(workspace.catalog, record)}
        assert stored[corrected.item].human_label == "ski"
        assert stored[corrected.item].annotator == "ops"
        # The same verdict again changes nothing; another one needs replace.
        assert workspace.runtime.feedback(first.id, label="ski").id == corrected.id
        with pytest.raises(InvalidInputError, match=r"already corrected as 'ski'.*--replace"):
            workspace.runtime.feedback(first.id, label="alp")
        again = {label.item: label for label in stored_labels(workspace.catalog, record)}
        assert again[corrected.item].human_label == "ski"  # the refused one changed nothing
        replaced = workspace.runtime.feedback(first.id, label="alp", replace=True)
        assert replaced.label == "alp" and replaced.id == corrected.id
        with pytest.raises(InvalidInputError, match=r"not a class of scenario.*did you mean"):
            workspace.runtime.feedback(second.id, label="polle", replace=True)
        with pytest.raises(NotFoundError, match="no event with id 999"):
            workspace.runtime.feedback(999, label="ski")
        assert workspace.runtime.feedback_of(second.id).label == "pole"  # type: ignore[union-attr]
        # The review queue asks about the corrected event's other frames first.
        queue = workspace.review_queue(SCENARIO, limit=5)
        assert queue[0].false_positive
        assert all(item.item != corrected.item for item in queue)
        hit = workspace.runtime.label_hit(SCENARIO, "frame:3", "alp")
        assert hit.origin == "search" and hit.event_id is None


def test_cli_feedback_and_its_errors(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_archive(home)
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    runner = CliRunner()
    event = json.loads(runner.invoke(app, ["events", "list", "--json"]).stdout.splitlines()[0])
    done = runner.invoke(app, ["events", "feedback", str(event["id"]), "--label", "ski"])
    assert done.exit_code == 0 and "corrected: pole -> ski" in done.output, done.output
    for args, message in [
        (["--label", "alp"], "pass --replace"),
        (["--label", "nope", "--replace"], "not a class of scenario"),
        ([], "exactly one of --confirm or --label"),
        (["--confirm", "--label", "ski"], "exactly one of --confirm or --label"),
    ]:
        failed = runner.invoke(app, ["events", "feedback", str(event["id"]), *args])
        assert failed.exit_code != 0 and message in failed.output, failed.output
        assert "Traceback" not in failed.output
    unknown = runner.invoke(app, ["events", "feedback", "4242", "--confirm"])
    assert unknown.exit_code != 0 and "no event with id 4242" in unknown.output
    shown = json.loads(runner.invoke(app, ["events", "show", str(event["id"])]).stdout)
    assert shown["feedback"]["label"] == "ski" and shown["model_version"].endswith("v1-r1-float")
    # A search hit labeled from the CLI, with its provenance; and its bad input.
    hit = runner.invoke(app, ["scenario", "feedback", SCENARIO, "frame:3", "ski"])
    assert hit.exit_code == 0 and "frame:3 labeled 'ski'" in hit.output, hit.output
    for args, message in [
        (["frame:3", "nope"], "not a class of scenario"),
        (["object:3", "ski"], "labels frames"),
        (["frame:999999", "ski"], "999999"),
    ]:
        failed = runner.invoke(app, ["scenario", "feedback", SCENARIO, *args])
        assert failed.exit_code != 0 and message in failed.output, failed.output
        assert "Traceback" not in failed.output


# -- point 4, runtime side: hot swap ------------------------------------------------------


def test_a_promoted_model_is_swapped_in_mid_run(home: Path, lite0_v2: Path) -> None:
    swaps = []
    with Workspace.open(loop_settings(home, rate_fps=2.0)) as workspace:
        runner = workspace.runtime.runner(
            [f"{SCENARIO}-v1-r1-float"], ["walkway"], realtime=False, on_swap=swaps.append
        )
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while runner.health()[0].frames_processed < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            register(workspace, f"{SCENARIO}-v1-r2-float", lite0_v2)  # promoted: the champion
            assert runner.wait(120)
        finally:
            runner.stop()
        [health] = runner.health()
        events = workspace.runtime.events(EventQuery(limit=1000))
    # Every sampled frame was scored once (archive: nothing dropped), by one model or the other.
    assert health.frames_processed == 159 and health.frames_dropped == 0, health
    assert [swap.after for swap in swaps] == [f"{SCENARIO}-v1-r2-float"]
    assert health.models == (f"{SCENARIO}-v1-r2-float",) and health.last_error is None
    versions = [e.model_version for e in sorted(events, key=lambda e: e.started_at)]
    assert versions[0] == f"{SCENARIO}-v1-r1-float" and versions[-1] == f"{SCENARIO}-v1-r2-float"
    # v1's events end with v1; v2's start after the swap: one version per event, in order.
    assert versions == sorted(versions)
    assert all(e.status == "closed" for e in events)


def test_a_challenger_is_not_run_until_promoted_and_a_rollback_swaps_back(
    home: Path, lite0_v2: Path
) -> None:
    with Workspace.open(loop_settings(home)) as workspace:
        runner = workspace.runtime.runner([f"{SCENARIO}-v1-r1-float"], ["walkway"])
        register(workspace, f"{SCENARIO}-v1-r2-float", lite0_v2, promote=False)
        assert runner.check_models() == []  # a challenger: the champion keeps running
        promote_model(workspace.catalog, f"{SCENARIO}-v1-r2-float")
        [swap] = runner.check_models()
        assert (swap.before, swap.after) == (f"{SCENARIO}-v1-r1-float", f"{SCENARIO}-v1-r2-float")
        rollback_champion(workspace.catalog, SCENARIO)
        [back] = runner.check_models()
        assert back.after == f"{SCENARIO}-v1-r1-float"
        assert runner.scorers[0].model_version == f"{SCENARIO}-v1-r1-float"
        assert runner.scorers[0].drift_reference is not None  # the swapped-in one has its own


def test_a_pinned_run_and_a_model_with_other_classes_are_not_swapped(
    home: Path, runtime_dir: Path
) -> None:
    other = build_lite0_classifier(runtime_dir / "other.onnx", classes=("pole", "ski"))
    with Workspace.open(loop_settings(home)) as workspace:
        pinned = workspace.runtime.runner([f"{SCENARIO}-v1-r1-float"], ["walkway"], follow=False)
        follower_run = workspace.runtime.runner([f"{SCENARIO}-v1-r1-float"], ["walkway"])
        register(workspace, f"{SCENARIO}-v1-r2-float", other)
        assert pinned.followers == {} and pinned.check_models() == []
        assert follower_run.check_models() == []  # refused: the classes differ
        assert "not swapped" in (follower_run.followers[0].last_error or "")
        assert follower_run.scorers[0].model_version == f"{SCENARIO}-v1-r1-float"


# -- point 6: drift -----------------------------------------------------------------------


def photo_folder(folder: Path) -> Path:
    """14 real photos (scikit-image and scikit-learn samples), anything but a walkway, as
    a still camera would upload them: one frame a second, each scene held for 3 s."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    def rgb(image: np.ndarray) -> np.ndarray:
        return np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]

    names = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "brick", "grass")
    names += ("gravel", "moon", "hubble_deep_field", "immunohistochemistry")
    images = [rgb(getattr(data, name)()) for name in names]
    images += list(load_sample_images().images)
    folder.mkdir()
    for position in range(3 * len(images)):
        path = folder / f"{position:02d}.png"
        Image.fromarray(images[position // 3]).save(path)
        # The runtime paces stills by capture time (the file's, without EXIF).
        os.utime(path, (1_700_000_000 + position, 1_700_000_000 + position))
    return folder


def test_drift_on_other_footage_raises_a_warning_event(home: Path, tmp_path: Path) -> None:
    with Workspace.open(loop_settings(home)) as workspace:
        workspace.add_source(str(photo_folder(tmp_path / "photos")), name="photos")
        same = workspace.runtime.runner([f"{SCENARIO}-v1-r1-float"], ["walkway"], realtime=False)
        [on_vtest] = same.run(120)
        other = workspace.runtime.runner([f"{SCENARIO}-v1-r1-float"], ["photos"], realtime=False)
        [on_photos] = other.run(120)
        drift = workspace.runtime.events(EventQuery(class_name="drift"))
        deliveries = workspace.runtime.deliveries(drift[0].id) if drift else []
    assert on_photos.frames_processed == 42, on_photos
    assert on_vtest.drift_psi is not None and on_photos.drift_psi is not None
    print(f"PSI on vtest {on_vtest.drift_psi:.3f}, on photos {on_photos.drift_psi:.3f}")
    assert on_vtest.drift_psi < 0.2 < on_photos.drift_psi
    assert [e.source_name for e in drift] == ["photos"]
    assert drift[0].details["drift"]["bound"] == 0.2 and drift[0].peak_score > 0.2
    assert {d.kind for d in deliveries} == {"event.started", "event.ended"}

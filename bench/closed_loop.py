"""The closed loop on real data: v1 from a few labels, run, feedback, v2, measured.

    .venv/bin/python bench/closed_loop.py --home /tmp/loop --task fashion
    .venv/bin/python bench/closed_loop.py --home /tmp/loop2 --task lawn --video data/vtest.avi

Two tasks, both real pictures with labels people gave:

* ``fashion``: a still camera that uploads one real Fashion-MNIST test image a second
  (120 sneakers and ankle boots, Debian ``dataset-fashion-mnist``); alerts on 'sneaker';
  the dataset's own labels are the operator's answers;
* ``lawn``: vtest.avi, one frame a second; alerts when someone walks on the lawn;
  the answers come from ``tests/runtime/data/vtest_lawn_judged.yaml`` (judged by eye
  before any model ran).

The loop: index (the fake embedder: labels come from people, only the review queue's
order depends on it); a first pass of 28 answers; distil v1 (the quality gates may
reject it: then nothing runs and the loop says so); run the champion over the source;
confirm or correct each alert event from the judged labels, as an operator would;
answer the review queue (false positives first); distil v2; compare the two on the
scenario's frozen evaluation set and the feedback items (``vigil model compare``),
promote v2 if it wins; and score both on the task's own frozen items (every third
second), which were never answered, never given as feedback, never trained on.

The figures printed are what one run measured on this machine: with 30-50 labels and a
compact CNN trained from scratch they move between runs and seeds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import yaml
from PIL import Image

from vigil.catalog.feedback_store import nearest_frame
from vigil.catalog.models_store import ModelStatus
from vigil.catalog.types import EventQuery
from vigil.errors import VigilError
from vigil.runtime.scorers import OnnxScorer
from vigil.scenarios.spec import spec_from_dict
from vigil.scenarios.store import human_labels
from vigil.settings import (
    DistillSettings,
    EmbedderSettings,
    RuntimeSettings,
    SamplingSettings,
    Settings,
)
from vigil.sources.images import read_image
from vigil.workspace import Workspace

JUDGED = Path(__file__).resolve().parents[1] / "tests/runtime/data/vtest_lawn_judged.yaml"
FIRST_ANSWERS = 28  # a quarter goes to the scenario's frozen evaluation set: 20+ to train on


@dataclass(frozen=True)
class Task:
    """A source, its judged labels by media second, and the scenario to learn."""

    name: str
    source: Path  # a video file or a folder of stills
    truth: dict[int, str]  # media second -> the label a person gave
    spec: dict[str, object]
    alert: str  # the class that raises events
    first: tuple[int, ...]  # the seconds answered in the first pass
    input_size: int
    read: Callable[[frozenset[int]], dict[int, np.ndarray]]  # pictures at those seconds

    @property
    def frozen(self) -> frozenset[int]:
        """Every third second: never answered, never given as feedback, never trained on."""
        return frozenset(second for second in self.truth if second % 3 == 2)

    @property
    def scenario(self) -> str:
        return str(self.spec["name"])


def _first_pass(truth: dict[int, str], alert: str, alerts: int) -> tuple[int, ...]:
    """The first ``FIRST_ANSWERS`` unfrozen seconds, ``alerts`` of them of the alert class."""
    open_seconds = [s for s in sorted(truth) if s % 3 != 2]
    chosen = [s for s in open_seconds if truth[s] == alert][:alerts]
    chosen += [s for s in open_seconds if truth[s] != alert][: FIRST_ANSWERS - len(chosen)]
    return tuple(sorted(chosen))


def lawn_task(video: Path) -> Task:
    data = yaml.safe_load(JUDGED.read_text(encoding="utf-8"))
    truth = {s: "lawn" for s in data["lawn"]} | {s: "path" for s in data["path"]}

    def read(seconds: frozenset[int]) -> dict[int, np.ndarray]:
        wanted = {10 * second: second for second in seconds}  # 10 fps
        found = {}
        with av.open(str(video)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    found[wanted[index]] = frame.to_ndarray(format="rgb24")
        return found

    spec = {
        "name": "lawn-walkers",
        "classes": [
            {"name": "lawn", "prompts": ["a person walking on the grass lawn"]},
            {"name": "path", "prompts": ["people walking on a paved footpath"]},
        ],
        "alert_classes": ["lawn"],
        "alert_threshold": 0.5,
    }
    return Task("lawn", video, truth, spec, "lawn", _first_pass(truth, "lawn", 8), 64, read)


def fashion_task(folder: Path, count: int = 120, seed: int = 0) -> Task:
    """``count`` real Fashion-MNIST test images, sneakers and ankle boots in random order,
    written as stills one second apart (the runtime paces stills by capture time)."""
    import os

    from vigil.evaluation import load_fashion_mnist

    data = load_fashion_mnist("test")
    names = {7: "sneaker", 9: "ankle boot"}
    rng = np.random.default_rng(seed)
    picked = rng.permutation(np.flatnonzero(np.isin(data.labels, list(names))))[:count]
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for second, index in enumerate(picked):
        path = folder / f"{second:04d}.png"
        Image.fromarray(data.images[index]).save(path)
        os.utime(path, (1_700_000_000 + second, 1_700_000_000 + second))
        truth[second] = names[int(data.labels[index])]

    def read(seconds: frozenset[int]) -> dict[int, np.ndarray]:
        return {second: read_image(folder / f"{second:04d}.png") for second in seconds}

    spec = {
        "name": "sneakers",
        "classes": [
            {"name": "sneaker", "prompts": ["a photo of a sneaker"]},
            {"name": "ankle boot", "prompts": ["a photo of an ankle boot"]},
        ],
        "alert_classes": ["sneaker"],
        "alert_threshold": 0.5,
    }
    first = _first_pass(truth, "sneaker", 8)
    return Task("fashion", folder, truth, spec, "sneaker", first, 32, read)


@dataclass
class LoopResult:
    v1: str
    v2: str | None  # None: v1 was rejected, nothing ran
    scores: dict[str, dict[str, float]]  # model -> balanced accuracy and per-class recall
    events_v1: int
    feedback: dict[str, int]  # confirmed / corrected
    queue_answers: int
    queue_false_positives: int
    v2_human_labels: int  # answers and verdicts v2 could learn from (some go to the eval set)
    frozen_in_training: int
    promoted: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


def loop_settings(home: Path, task: Task, embedder: str = "fake", epochs: int = 30) -> Settings:
    return Settings(
        home=home,
        embedder=EmbedderSettings(name=embedder),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
        distill=DistillSettings(
            input_size=task.input_size, epochs=epochs, quantize=False, prune_amount=0.0
        ),
        runtime=RuntimeSettings(
            rate_fps=1.0, min_duration_s=0.0, quiet_period_s=1.0, off_threshold=0.5
        ),
    )


def score_on_frozen(
    path: Path, pictures: dict[int, np.ndarray], truth: dict[int, str]
) -> dict[str, float]:
    """Balanced accuracy (mean per-class recall) and each class's recall."""
    scorer = OnnxScorer(path)
    seconds = sorted(pictures)
    probs = scorer.score([pictures[s] for s in seconds])
    said = [scorer.class_names[int(row.argmax())] for row in probs]
    recall = {}
    for name in sorted(set(truth[s] for s in seconds)):
        mine = [p == name for s, p in zip(seconds, said, strict=True) if truth[s] == name]
        recall[name] = float(np.mean(mine))
    return {"balanced_accuracy": float(np.mean(list(recall.values())))} | {
        f"recall {name}": value for name, value in recall.items()
    }


def run_loop(
    home: Path,
    task: Task,
    *,
    embedder: str = "fake",
    epochs: int = 30,
    say: Callable[[str], None] = print,
) -> LoopResult:
    scenario, truth, frozen = task.scenario, task.truth, task.frozen
    seconds: dict[str, float] = {}
    started = time.monotonic()

    def lap(name: str) -> None:
        seconds[name] = time.monotonic() - started - sum(seconds.values())

    with Workspace.open(loop_settings(home, task, embedder, epochs)) as workspace:
        source = workspace.add_source(str(task.source), name=task.name)
        workspace.index([source.id])
        frames = {}
        for second in truth:
            found = nearest_frame(workspace.catalog, source.id, float(second), 0.45)
            if found is not None:
                frames[second] = found
        lap("index")
        workspace.create_scenario(spec_from_dict(task.spec))
        for second in task.first:
            item = f"frame:{frames[second]}"
            workspace.answer(scenario, item, truth[second], annotator="first-pass")
        alerts = sum(truth[s] == task.alert for s in task.first)
        say(f"v1: {len(task.first)} answers ({alerts} {task.alert})")
        made = workspace.models.distill(scenario, progress=False).models
        lap("distill v1")
        for model in made:
            why = f" ({model.error})" if model.error else ""
            say(f"distilled {model.name}: {model.status}{why}")
        v1 = workspace.models.champion(scenario)
        if v1 is None:
            say("no model passed the quality gates: nothing runs until people answer more")
            return LoopResult(made[-1].name, None, {}, 0, {}, 0, 0, 0, 0, seconds=seconds)
        say(f"champion: {v1.name}")

        workspace.runtime.runner([v1.name], [task.name], realtime=False).run(600)
        query = EventQuery(scenario=scenario, class_name=task.alert, limit=1000)
        events = workspace.runtime.events(query)
        feedback = {"confirmed": 0, "corrected": 0}
        given_on: list[str] = []  # items labeled by operator verdicts
        for event in events:
            peak = round(float(event.details["media_time_s"]["peak"]))
            if peak in frozen or peak not in truth:
                continue  # the frozen items are never shown to the operator
            try:
                given = workspace.runtime.feedback(event.id, label=truth[peak], annotator="ops")
            except VigilError as error:
                say(f"  event {event.id}: {error}")
                continue
            feedback[str(given.verdict)] += 1
            given_on.append(given.item)
        say(
            f"ran {v1.name}: {len(events)} '{task.alert}' events; operator feedback: "
            f"{feedback['confirmed']} confirmed, {feedback['corrected']} corrected"
        )
        by_id = {frame_id: second for second, frame_id in frames.items()}
        answered = flagged = 0
        for item in workspace.review_queue(scenario, limit=30):
            second = by_id[item.id]
            if second in frozen or answered == 10:
                continue
            flagged += item.false_positive
            workspace.answer(scenario, item.item, truth[second], annotator="ops")
            answered += 1
        say(f"review queue: {answered} answers, {flagged} of them inside corrected events")
        lap("run + feedback")
        people_said = len(human_labels(workspace.catalog, workspace.scenarios.get(scenario)))
        made = workspace.models.distill(scenario, progress=False).models
        lap("distill v2")
        v2 = next((m for m in made if m.kind == v1.kind), made[-1])
        trained_on = {str(i) for i in v2.snapshot.get("item_ids", [])}
        frozen_ids = {f"frame:{frames[s]}" for s in frozen if s in frames}
        why = f" ({v2.error})" if v2.error else ""
        say(f"distilled {v2.name} from {people_said} answers and verdicts: {v2.status}{why}")
        promoted = False
        if v2.status is ModelStatus.READY:
            compared = workspace.models.compare([v1.id, v2.id], extra_item_ids=tuple(given_on))
            say(compared.markdown())
            if compared.decision is not None and compared.decision.promote:
                workspace.models.promote(v2.id)
                promoted = True
                say(f"promoted {v2.name}: a running 'vigil run' swaps to it")
            else:
                say(f"kept {v1.name} as champion")
    pictures = task.read(frozen)
    judged = [m for m in (v1, v2) if m.status is ModelStatus.READY and m.path is not None]
    scores = {m.name: score_on_frozen(m.path, pictures, truth) for m in judged}  # type: ignore[arg-type]
    counts = ", ".join(
        f"{sum(truth[s] == name for s in frozen)} {name}" for name in sorted(set(truth.values()))
    )
    say(f"{task.name}: {len(frozen)} frozen items ({counts}), never answered or trained on")
    for name, row in scores.items():
        rest = "  ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "balanced_accuracy")
        say(f"  {name:<24} balanced accuracy {row['balanced_accuracy']:.3f}  {rest}")
    if len(scores) == 2:
        change = scores[v2.name]["balanced_accuracy"] - scores[v1.name]["balanced_accuracy"]
        say(f"  v2 - v1: {change:+.3f} balanced accuracy")
    return LoopResult(
        v1=v1.name,
        v2=v2.name,
        scores=scores,
        events_v1=len(events),
        feedback=feedback,
        queue_answers=answered,
        queue_false_positives=flagged,
        v2_human_labels=people_said,
        frozen_in_training=len(trained_on & frozen_ids),
        promoted=promoted,
        seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a new workspace folder")
    parser.add_argument("--task", choices=("fashion", "lawn"), default="fashion")
    parser.add_argument("--video", type=Path, help="vtest.avi (the lawn task)")
    parser.add_argument("--embedder", default="fake")
    args = parser.parse_args()
    if args.task == "lawn":
        if args.video is None:
            parser.error("the lawn task needs --video vtest.avi")
        task = lawn_task(args.video)
    else:
        task = fashion_task(args.home.parent / f"{args.home.name}-stills")
    result = run_loop(args.home, task, embedder=args.embedder)
    print("seconds:", {k: round(v, 1) for k, v in result.seconds.items()})


if __name__ == "__main__":
    main()

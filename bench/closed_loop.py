"""The closed loop on real footage: v1 from a few labels, run, feedback, v2, measured.

    .venv/bin/python bench/closed_loop.py --home /tmp/loop --video data/vtest.avi

1. index vtest.avi (one frame a second; the fake embedder by default: only the
   review queue's order depends on it, labels come from people);
2. a person labels 20 frames, 6 of them 'lawn' (someone on the grass): v1;
3. v1 runs over the clip; each 'lawn' event is confirmed or corrected, as an
   operator would, from the judged set (tests/runtime/data/vtest_lawn_judged.yaml);
   the review queue (false positives first) gets 10 more answers;
4. v2 is distilled from the labels plus the feedback and becomes the model to run
   (the scenario's newest ready model);
5. v1 and v2 are scored on the frozen frames of the judged set: every third
   second, never labeled, never given as feedback, so neither model saw them.

The figures printed are what this run measured, on this machine; with 20-40
labels and a compact CNN trained from scratch they move between runs of other
seeds, so read them as one measurement, not as a guarantee.
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

from vigil.catalog.feedback_store import nearest_frame
from vigil.catalog.types import EventQuery
from vigil.errors import VigilError
from vigil.runtime.scorers import OnnxScorer
from vigil.scenarios.spec import spec_from_dict
from vigil.settings import (
    DistillSettings,
    EmbedderSettings,
    RuntimeSettings,
    SamplingSettings,
    Settings,
)
from vigil.workspace import Workspace

JUDGED = Path(__file__).resolve().parents[1] / "tests/runtime/data/vtest_lawn_judged.yaml"
SCENARIO = "lawn-walkers"
FIRST_LABELS = {second: "lawn" for second in (51, 52, 54, 55, 57, 58)} | {
    second: "path" for second in (0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39)
}
SPEC = {
    "name": SCENARIO,
    "description": "Someone walking on the lawn instead of the path.",
    "classes": [
        {"name": "lawn", "prompts": ["a person walking on the grass lawn"]},
        {"name": "path", "prompts": ["people walking on a paved footpath"]},
    ],
    "alert_classes": ["lawn"],
    "alert_threshold": 0.5,
}


@dataclass(frozen=True)
class Judged:
    truth: dict[int, str]  # second -> label
    frozen: frozenset[int]

    @classmethod
    def load(cls, path: Path = JUDGED) -> Judged:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        truth = {s: "lawn" for s in data["lawn"]} | {s: "path" for s in data["path"]}
        return cls(truth, frozenset(s for s in truth if s % 3 == 2))


@dataclass
class LoopResult:
    v1: str
    v2: str
    scores: dict[str, dict[str, float]]  # model -> balanced accuracy and per-class recall
    events_v1: int
    feedback: dict[str, int]  # confirmed / corrected
    queue_answers: int
    queue_false_positives: int
    v2_human_labels: int
    frozen_in_training: int
    seconds: dict[str, float] = field(default_factory=dict)


def loop_settings(home: Path, embedder: str = "fake", epochs: int = 30) -> Settings:
    return Settings(
        home=home,
        embedder=EmbedderSettings(name=embedder),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
        distill=DistillSettings(input_size=64, epochs=epochs, quantize=False, prune_amount=0.0),
        runtime=RuntimeSettings(
            rate_fps=1.0, min_duration_s=0.0, quiet_period_s=1.0, off_threshold=0.5
        ),
    )


def frozen_frames(video: Path, seconds: frozenset[int]) -> dict[int, np.ndarray]:
    """Full-resolution RGB frames at the frozen seconds (10 fps: frame 10 * second)."""
    wanted = {10 * second: second for second in seconds}
    found = {}
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                found[wanted[index]] = frame.to_ndarray(format="rgb24")
    return found


def score_on_frozen(
    path: Path, frames: dict[int, np.ndarray], truth: dict[int, str]
) -> dict[str, float]:
    """Balanced accuracy (mean per-class recall) and each class's recall."""
    scorer = OnnxScorer(path)
    seconds = sorted(frames)
    probs = scorer.score([frames[s] for s in seconds])
    said = [scorer.class_names[int(row.argmax())] for row in probs]
    recall = {}
    for name in sorted(set(truth[s] for s in seconds)):
        mine = [p == name for s, p in zip(seconds, said, strict=True) if truth[s] == name]
        recall[name] = float(np.mean(mine))
    return {"balanced_accuracy": float(np.mean(list(recall.values())))} | {
        f"recall_{name}": value for name, value in recall.items()
    }


def run_loop(
    home: Path,
    video: Path,
    *,
    embedder: str = "fake",
    epochs: int = 30,
    say: Callable[[str], None] = print,
) -> LoopResult:
    judged = Judged.load()
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with Workspace.open(loop_settings(home, embedder, epochs)) as workspace:
        source = workspace.add_source(str(video), name="walkway")
        workspace.index([source.id])
        frames = {}
        for second in judged.truth:
            found = nearest_frame(workspace.catalog, source.id, float(second), 0.45)
            if found is not None:
                frames[second] = found
        seconds["index"] = time.monotonic() - started
        workspace.create_scenario(spec_from_dict(SPEC))
        for second, label in FIRST_LABELS.items():
            assert second not in judged.frozen
            workspace.answer(SCENARIO, f"frame:{frames[second]}", label, annotator="first-pass")
        lawn = sum(v == "lawn" for v in FIRST_LABELS.values())
        say(f"v1: {len(FIRST_LABELS)} labels ({lawn} lawn)")
        v1 = workspace.models.distill(SCENARIO, progress=False).models[-1]
        seconds["distill v1"] = time.monotonic() - started - sum(seconds.values())
        say(f"distilled {v1.name}: {v1.status}")

        runner = workspace.runtime.runner([v1.name], ["walkway"], realtime=False)
        runner.run(600)
        events = workspace.runtime.events(
            EventQuery(scenario=SCENARIO, class_name="lawn", limit=1000)
        )
        feedback = {"confirmed": 0, "corrected": 0}
        for event in events:
            peak = round(float(event.details["media_time_s"]["peak"]))
            if peak in judged.frozen or peak not in judged.truth:
                continue  # the frozen frames are never shown to the operator
            try:
                given = workspace.runtime.feedback(
                    event.id, label=judged.truth[peak], annotator="operator"
                )
            except VigilError as error:
                say(f"  event {event.id}: {error}")
                continue
            feedback[str(given.verdict)] += 1
        say(
            f"ran {v1.name}: {len(events)} lawn events; operator feedback: "
            f"{feedback['confirmed']} confirmed, {feedback['corrected']} corrected"
        )
        queue = workspace.review_queue(SCENARIO, limit=15)
        by_id = {frame_id: second for second, frame_id in frames.items()}
        answered = flagged = 0
        for item in queue:
            second = by_id[item.id]
            if second in judged.frozen or answered == 10:
                continue
            flagged += item.false_positive
            workspace.answer(SCENARIO, item.item, judged.truth[second], annotator="operator")
            answered += 1
        say(f"review queue: {answered} answers, {flagged} of them inside corrected events")
        seconds["run + feedback"] = time.monotonic() - started - sum(seconds.values())
        v2 = workspace.models.distill(SCENARIO, progress=False).models[-1]
        seconds["distill v2"] = time.monotonic() - started - sum(seconds.values())
        trained_on = {str(i) for i in v2.snapshot.get("item_ids", [])}
        frozen_ids = {f"frame:{frames[s]}" for s in judged.frozen}
        say(f"distilled {v2.name}: {v2.status}, {v2.snapshot.get('human_labels')} human labels")
    pictures = frozen_frames(video, judged.frozen)
    scores = {
        model.name: score_on_frozen(model.path, pictures, judged.truth)  # type: ignore[arg-type]
        for model in (v1, v2)
    }
    held = sum(judged.truth[s] == "lawn" for s in judged.frozen)
    say(f"frozen set: {len(judged.frozen)} frames of vtest.avi ({held} lawn), never trained on")
    for name, row in scores.items():
        say(
            f"  {name:<26} balanced accuracy {row['balanced_accuracy']:.3f}  "
            f"recall lawn {row['recall_lawn']:.3f}  path {row['recall_path']:.3f}"
        )
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
        v2_human_labels=int(v2.snapshot.get("human_labels", 0)),
        frozen_in_training=len(trained_on & frozen_ids),
        seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a new workspace folder")
    parser.add_argument("--video", type=Path, required=True, help="vtest.avi")
    parser.add_argument("--embedder", default="fake")
    args = parser.parse_args()
    result = run_loop(args.home, args.video, embedder=args.embedder)
    print("seconds:", {k: round(v, 1) for k, v in result.seconds.items()})


if __name__ == "__main__":
    main()

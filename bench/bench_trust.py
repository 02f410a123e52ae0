"""Search you can trust, measured before and after on the judged query set.

    .venv/bin/python bench/bench_trust.py --split heldout [--set 2] [--json out.json]

The archive and the judgements are ``bench/data/judged_queries.yaml`` (written
before any run; see its header; v2 entries carry ``set: 2``). Three columns:
"cosine" is the plain cosine search (``search_by_text`` / a plain vector search: it
always answers); "3eca8cb" is ``trusted_search`` as main had it at 3eca8cb, read from
the run recorded in ``bench/results/trust_3eca8cb.json`` (same bench, same archive);
"now" is ``trusted_search`` / ``trusted_search_by_vector`` of this checkout
(calibrated confidence, abstention, detector evidence, concept expansion, predicates
on stored objects and attributes).

Figures, per split (dev: what parameters were chosen on; heldout, and its v1 and v2
parts: never tuned on):
* absent text queries answered "no confident match" (goal >= 80 %);
* present text queries answered confidently (the other side of abstention), and how
  many of those confident answers have the right top hit;
* P@5 on present queries (present, paraphrase, count, negation; goal >= 90 % of before);
* paraphrase recall@1 (a plain description instead of the class name);
* attribute / count / negation pairs ranked the right way (strictly; goal >= 80 %);
* the same abstention figures for image queries (a query photo that is not in the
  archive against the archive).
Report the split and the machine with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_archive import ROOT, item_key, load_judged, open_archive, query_image
from vigil.search.text import search_by_text
from vigil.search.trust import score_query_on, trusted_search, trusted_search_by_vector
from vigil.structure.attributes import backfill_attributes
from vigil.workspace import Workspace

PRESENT_KINDS = ("present", "paraphrase", "count", "negation")
JUDGED_OBJECTS = ROOT / "bench" / "data" / "vtest_objects.yaml"
# The same bench run on main at 3eca8cb (before this session's changes), all splits.
BASELINE = ROOT / "bench" / "results" / "trust_3eca8cb.json"


def item_ids(workspace: Workspace, cache: Path) -> dict[str, int]:
    """Judged item key -> frame embedding id (frame index = position in the sorted folder)."""
    index = workspace.vector_index
    frames = workspace.catalog.frames_for_embeddings(index.ids())
    sources = {source.id: source for source in workspace.list_sources()}
    listing: dict[int, list[str]] = {}
    keys: dict[str, int] = {}
    for embedding_id, (frame, _) in frames.items():
        source = sources[frame.source_id]
        if source.id not in listing:
            folder = Path(source.location)
            listing[source.id] = sorted(p.name for p in folder.iterdir() if p.is_file())
        keys[item_key(listing[source.id][frame.frame_index])] = embedding_id
    return keys


def relevant_keys(query: dict[str, Any], judged: dict[str, Any], all_keys: set[str]) -> set[str]:
    if "relevant_all_but" in query:
        return all_keys - {item_key(k) for k in judged[query["relevant_all_but"]]}
    return {item_key(k) for k in query.get("relevant", [])}


def object_accuracy(workspace: Workspace) -> dict[str, Any]:
    """Zero-shot class of each judged vtest object (argmax over the 80 COCO prompts of its
    crop vector) and the detector's own class, against bench/data/vtest_objects.yaml."""
    import yaml

    from vigil.catalog.objects import ObjectVectors, get_object, object_embedding_id
    from vigil.embedders.concept_bridge import load_coco_classes, singular_prompt

    judged = yaml.safe_load((JUDGED_OBJECTS).read_text(encoding="utf-8"))["labels"]
    truth = {oid: label for label, ids in judged.items() if label != "unclear" for oid in ids}
    coco = list(load_coco_classes().values())
    prompts = workspace.embedder.embed_texts([singular_prompt(c.noun) for c in coco])
    model_id = workspace.embedder.model_id
    right = {"zero_shot": 0, "detector": 0}
    for object_id, label in truth.items():
        embedding_id = object_embedding_id(workspace.catalog, object_id, model_id)
        vector = ObjectVectors(workspace.catalog).get_vectors([embedding_id])[0]
        guesses = {
            "zero_shot": coco[int(np.argmax(prompts @ vector))].name,
            "detector": get_object(workspace.catalog, object_id).label,
        }
        for kind, guess in guesses.items():
            right[kind] += guess in label.split("|")
    return {kind: round(count / len(truth), 3) for kind, count in right.items()} | {
        "objects": len(truth)
    }


def select(entries: list[dict[str, Any]], split: str, version: str) -> list[dict[str, Any]]:
    """Entries of the split ("dev", "heldout", "all") and judged-set version ("1", "2", "all")."""
    return [
        entry
        for entry in entries
        if split in ("all", entry["split"]) and version in ("all", str(entry.get("set", 1)))
    ]


def run(split: str, cache: Path, version: str = "all") -> dict[str, Any]:
    judged = load_judged()
    started = time.perf_counter()
    workspace = open_archive(cache, judged)
    build_s = time.perf_counter() - started
    keys = item_ids(workspace, cache)
    names = {embedding_id: key for key, embedding_id in keys.items()}
    common = {
        "catalog": workspace.catalog,
        "vector_index": workspace.vector_index,
        "embedder": workspace.embedder,
    }

    def measure(frame_ids: Any) -> object:
        return backfill_attributes(workspace.catalog, workspace.home, frame_ids)

    rows = []
    queries = judged["queries"] + judged.get("queries_v2", [])
    for query in select(queries, split, version):
        raw = search_by_text(query["query"], limit=5, **common)  # type: ignore[arg-type]
        trusted = trusted_search(query["query"], limit=5, measure=measure, **common)  # type: ignore[arg-type]
        relevant = relevant_keys(query, judged, set(keys))
        before = [names.get(h.embedding_id, "?") for h in raw]
        after = [names.get(h.hit.embedding_id, "?") for h in trusted.hits]
        rows.append(
            {
                "id": query["id"],
                "set": query.get("set", 1),
                "split": query["split"],
                "kind": query["kind"],
                "query": query["query"],
                "before_top5": before,
                "after_top5": after,
                "before_p5": sum(k in relevant for k in before) / 5 if relevant else None,
                "after_p5": sum(k in relevant for k in after) / 5 if relevant else None,
                "before_top_score": round(raw[0].score, 4) if raw else None,
                "before_top1_right": bool(before) and before[0] in relevant,
                "after_top1_right": bool(after) and after[0] in relevant,
                "after_confident": trusted.confident,
                "after_top_confidence": trusted.hits[0].confidence if trusted.hits else None,
                "notes": trusted.notes,
            }
        )
    pairs = []
    for pair in select(judged["pairs"] + judged.get("pairs_v2", []), split, version):
        embedding_id = keys[item_key(pair["item"])]
        vector = workspace.vector_index.reconstruct([embedding_id])[0]
        raw_scores = workspace.embedder.embed_texts([pair["better"], pair["worse"]]) @ vector
        after_scores = [
            score_query_on(text, [embedding_id], measure=measure, **common)[0][1]  # type: ignore[arg-type]
            for text in (pair["better"], pair["worse"])
        ]
        pairs.append(
            {
                "id": pair["id"],
                "set": pair.get("set", 1),
                "split": pair["split"],
                "item": pair["item"],
                "better": pair["better"],
                "worse": pair["worse"],
                "before": [round(float(s), 4) for s in raw_scores],
                "after": [round(float(s), 4) for s in after_scores],
                "before_right": bool(raw_scores[0] > raw_scores[1] + 1e-4),
                "after_right": bool(after_scores[0] > after_scores[1] + 1e-4),
            }
        )
    images = []
    for query in select(judged.get("image_queries", []), split, version):
        vector = workspace.embedder.embed_images([query_image(query["source"], cache)])[0]
        ids, _ = workspace.vector_index.search(vector, 5)[0]  # plain image search: always answers
        trusted = trusted_search_by_vector(vector, query["source"], limit=5, **common)  # type: ignore[arg-type]
        relevant = {item_key(k) for k in query.get("relevant", [])}
        before = [names.get(int(i), "?") for i in ids]
        after = [names.get(h.hit.embedding_id, "?") for h in trusted.hits]
        images.append(
            {
                "id": query["id"],
                "set": query.get("set", 1),
                "split": query["split"],
                "kind": query["kind"],
                "query": query["source"],
                "before_top5": before,
                "after_top5": after,
                "before_p5": sum(k in relevant for k in before) / 5 if relevant else None,
                "after_p5": sum(k in relevant for k in after) / 5 if relevant else None,
                "before_top1_right": bool(before) and before[0] in relevant,
                "after_top1_right": bool(after) and after[0] in relevant,
                "after_confident": trusted.confident,
                "after_top_confidence": trusted.hits[0].confidence if trusted.hits else None,
            }
        )
    objects = object_accuracy(workspace)
    workspace.close()
    groups = {"all selected": (rows, pairs, images)}
    for name, keep in (
        ("dev", lambda e: e["split"] == "dev"),
        ("heldout", lambda e: e["split"] == "heldout"),
        ("heldout v1", lambda e: e["split"] == "heldout" and e["set"] == 1),
        ("heldout v2", lambda e: e["split"] == "heldout" and e["set"] == 2),
    ):
        chosen = ([r for r in rows if keep(r)], [p for p in pairs if keep(p)])
        if chosen[0] or chosen[1]:
            groups[name] = (*chosen, [i for i in images if keep(i)])
    summaries = {name: summarise(*parts) for name, parts in groups.items()}
    extra = {
        "object_zero_shot_accuracy": objects["zero_shot"],
        "object_detector_accuracy": objects["detector"],
        "judged_objects": objects["objects"],
        "archive_build_s": round(build_s, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared, loaded)",
        "split": split,
        "set": version,
    }
    return {
        "summary": summaries["all selected"] | extra,
        "summaries": summaries,
        "queries": rows,
        "pairs": pairs,
        "image_queries": images,
    }


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def summarise(
    rows: list[dict[str, Any]], pairs: list[dict[str, Any]], images: list[dict[str, Any]]
) -> dict[str, Any]:
    """The figures of one group of judged entries (before = plain cosine search)."""
    absent = [r for r in rows if r["kind"] == "absent"]
    present = [r for r in rows if r["kind"] in PRESENT_KINDS]
    paraphrase = [r for r in rows if r["kind"] == "paraphrase"]
    image_absent = [i for i in images if i["kind"] == "absent"]
    image_present = [i for i in images if i["kind"] == "present"]
    mean = _mean
    return {
        "queries": len(rows),
        "absent_queries": len(absent),
        "present_queries": len(present),
        "paraphrase_queries": len(paraphrase),
        "pairs": len(pairs),
        "image_queries": len(images),
        "absent_abstained_before": 0.0 if absent else None,  # plain search always answers
        "absent_abstained_after": mean([float(not r["after_confident"]) for r in absent]),
        "present_confident_before": 1.0 if present else None,
        "present_confident_after": mean([float(r["after_confident"]) for r in present]),
        "answers_right_before": mean([float(r["before_top1_right"]) for r in present]),
        "answers_right_after": mean(
            [float(r["after_top1_right"]) for r in present if r["after_confident"]]
        ),
        "p5_before": mean([r["before_p5"] for r in present]),
        "p5_after": mean([r["after_p5"] for r in present]),
        "paraphrase_r1_before": mean([float(r["before_top1_right"]) for r in paraphrase]),
        "paraphrase_r1_after": mean([float(r["after_top1_right"]) for r in paraphrase]),
        "pairs_right_before": mean([float(p["before_right"]) for p in pairs]),
        "pairs_right_after": mean([float(p["after_right"]) for p in pairs]),
        "image_absent_abstained_before": 0.0 if image_absent else None,
        "image_absent_abstained_after": mean(
            [float(not i["after_confident"]) for i in image_absent]
        ),
        "image_present_confident_before": 1.0 if image_present else None,
        "image_present_confident_after": mean([float(i["after_confident"]) for i in image_present]),
        "image_answers_right_before": mean([float(i["before_top1_right"]) for i in image_present]),
        "image_answers_right_after": mean(
            [float(i["after_top1_right"]) for i in image_present if i["after_confident"]]
        ),
        "image_p5_before": mean([i["before_p5"] for i in image_present]),
        "image_p5_after": mean([i["after_p5"] for i in image_present]),
    }


FIGURES = (
    ("absent text queries: no confident match", "absent_abstained"),
    ("present text queries answered confidently", "present_confident"),
    ("confident answers whose top hit is right", "answers_right"),
    ("P@5 on present text queries", "p5"),
    ("paraphrase recall@1", "paraphrase_r1"),
    ("pairs ranked the right way", "pairs_right"),
    ("absent image queries: no confident match", "image_absent_abstained"),
    ("present image queries answered confidently", "image_present_confident"),
    ("confident image answers, top hit right", "image_answers_right"),
    ("P@5 on present image queries", "image_p5"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default="heldout")
    parser.add_argument(
        "--set", choices=("1", "2", "all"), default="all", help="Judged-set version(s)."
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/trust"))
    parser.add_argument("--json", type=Path, help="Write the full report here.")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=BASELINE,
        help="A recorded report whose 'after' column is printed as the baseline column.",
    )
    parser.add_argument("--verbose", action="store_true", help="Print every query and pair.")
    args = parser.parse_args()
    report = run(args.split, args.cache, args.set)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.verbose:
        for row in report["queries"] + report["image_queries"]:
            print(
                f"{row['id']:4} {row['kind']:10} conf={row['after_confident']!s:5} "
                f"top={row['after_top_confidence']} p5 {row['before_p5']}->{row['after_p5']}  "
                f"{row['query']!r}  after={row['after_top5'][:3]}"
            )
        for pair in report["pairs"]:
            print(
                f"{pair['id']:4} {pair['item']:24} {pair['better']!r} vs {pair['worse']!r}: "
                f"before {pair['before']} after {pair['after']}"
            )
    recorded: dict[str, Any] = {}
    if args.baseline and args.baseline.exists():
        recorded = json.loads(args.baseline.read_text(encoding="utf-8")).get("summaries", {})
    for group, summary in report["summaries"].items():
        if group == "all selected" and len(report["summaries"]) > 2:
            continue
        base = recorded.get(group, {})
        print(
            f"\n{group}: {summary['queries']} text queries, {summary['pairs']} pairs, "
            f"{summary['image_queries']} image queries"
        )
        print(f"{'figure':44} {'cosine':>7} {'3eca8cb':>8} {'now':>7}")
        for label, key in FIGURES:
            if summary[key + "_after"] is None and summary[key + "_before"] is None:
                continue
            print(
                f"{label:44} {summary[key + '_before']!s:>7} "
                f"{base.get(key + '_after', '-')!s:>8} {summary[key + '_after']!s:>7}"
            )
    summary = report["summary"]
    print(
        f"\nvtest objects ({summary['judged_objects']} judged): zero-shot accuracy "
        f"{summary['object_zero_shot_accuracy']}, "
        f"detector class {summary['object_detector_accuracy']}"
    )
    print(summary["machine"])


if __name__ == "__main__":
    main()

"""Auto-label on a Ray cluster: score stored vectors as Ray tasks, write labels here.

Auto-labeling reads vectors already in the catalog, so it is cheap per item (tens
of thousands of items/s in one process); a cluster helps when an archive holds
hundreds of millions of items or the scenario's classifier is heavy. The fitted
classifier goes to the object store once; each batch of (ids, vectors) becomes a
side-effect-free task that Ray re-runs if its worker dies, and this process writes
the results in submission order, so a resumed run skips exactly what was written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from vigil.scale.ray_index import ray_session
from vigil.scenarios.classify import ScenarioClassifier

DEFAULT_IN_FLIGHT_PER_CPU = 2


def _predict(model: ScenarioClassifier, vectors: np.ndarray) -> np.ndarray:
    return model.predict_proba(vectors)


def ray_scorer(address: str, *, max_retries: int = 5) -> Any:
    """A ``BatchScorer`` for ``vigil.scenarios.autolabel.autolabel`` that runs on Ray."""

    def score(
        model: ScenarioClassifier, batches: Iterator[tuple[np.ndarray, np.ndarray]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import ray

        with ray_session(address):
            predict = ray.remote(num_cpus=1, max_retries=max_retries)(_predict)
            model_ref = ray.put(model)
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
            window: deque[tuple[np.ndarray, Any]] = deque()
            for ids, vectors in batches:
                window.append((ids, predict.remote(model_ref, vectors)))
                if len(window) >= cpus * DEFAULT_IN_FLIGHT_PER_CPU:
                    done_ids, ref = window.popleft()
                    yield done_ids, ray.get(ref)
            while window:
                done_ids, ref = window.popleft()
                yield done_ids, ray.get(ref)

    return score

"""How ``vigil index --ray`` chooses where to embed, from the cluster's resources (no cluster).

The resource descriptions are what ``ray.cluster_resources()`` returns; a GPU node
is described the way Ray describes one (a ``GPU`` count, plus its accelerator label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.embedders.fake import FakeEmbedder
from vigil.errors import ClusterError
from vigil.scale import plan_shards
from vigil.scale.ray_index import EmbedPlan, plan_embedding
from vigil.scale.work import EmbedActor, decode_shard, embed_decoded, embed_shard
from vigil.settings import EmbedderSettings
from vigil.sources.types import Source, SourceKind

GPU_NODE = {"CPU": 16.0, "GPU": 1.0, "accelerator_type:H200": 1.0, "memory": 1e11}
TWO_GPU_NODES = {"CPU": 32.0, "GPU": 2.0, "accelerator_type:H100": 2.0}
CPU_ONLY = {"CPU": 2.0, "memory": 1e10}


@pytest.mark.parametrize(
    ("resources", "device", "actor_pool", "expected"),
    [
        (GPU_NODE, "auto", "auto", EmbedPlan("actors", "cuda", 1, 1.0, 1.0)),
        (TWO_GPU_NODES, "auto", "auto", EmbedPlan("actors", "cuda", 2, 1.0, 1.0)),
        (TWO_GPU_NODES, "cuda:1", "auto", EmbedPlan("actors", "cuda", 2, 1.0, 1.0)),
        (GPU_NODE, "cpu", "auto", EmbedPlan("tasks", "cpu")),  # the setting wins
        (GPU_NODE, "cpu", "always", EmbedPlan("actors", "cpu", 8, 0.0, 1.0)),
        (CPU_ONLY, "auto", "auto", EmbedPlan("tasks", "cpu")),
        (CPU_ONLY, "auto", "always", EmbedPlan("actors", "cpu", 1, 0.0, 1.0)),
    ],
)
def test_the_plan_follows_the_cluster_and_the_device_setting(
    resources: dict[str, float], device: str, actor_pool: str, expected: EmbedPlan
) -> None:
    assert plan_embedding(resources, device, actor_pool) == expected


def test_cuda_on_a_cluster_without_gpus_is_a_clear_error() -> None:
    with pytest.raises(ClusterError, match="offers no GPUs"):
        plan_embedding(CPU_ONLY, "cuda", "auto")


def test_the_plan_says_where_it_runs() -> None:
    plan = plan_embedding(TWO_GPU_NODES, "auto", "auto")
    assert plan.describe() == "2 cuda embedding actor(s) fed by CPU decode tasks"


def test_decode_then_embed_equals_the_one_task_path(vtest_cut: Path) -> None:
    """What a decode task hands an actor, embedded there, is what one CPU task writes."""
    source = Source(name="walkway", kind=SourceKind.VIDEO, location=str(vtest_cut), id=1)
    [shard, *_] = plan_shards(source, duration=24.0, interval_s=0.5, shard_seconds=10.0)
    wanted = (0, 5, 35, 95)
    settings = EmbedderSettings(name="fake", device="cpu")
    one_task = embed_shard(shard, wanted, settings, thumbnail_size=160)
    decoded = decode_shard(shard, wanted, thumbnail_size=160)
    actor = EmbedActor(settings.model_dump_json())  # the class Ray runs, called in-process
    assert actor.device() == "cpu"
    for output in (actor.embed(decoded), embed_decoded(decoded, FakeEmbedder())):
        assert output.frames == one_task.frames
        assert all(
            np.array_equal(a, b) for a, b in zip(output.previews, one_task.previews, strict=True)
        )
        np.testing.assert_allclose(output.vectors, one_task.vectors, rtol=0, atol=1e-5)
    assert decode_shard(shard, (), thumbnail_size=160).frames == ()

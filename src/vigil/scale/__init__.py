"""Scale out: index many sources on a Ray cluster, equal to the single-process result.

See ``docs/ray.md`` for running a cluster, and ``vigil.scale.shards`` for why a
sharded run writes exactly the frames a single-process run writes.
"""

from vigil.scale.ray_index import (
    ClusterError,
    RayIndexReport,
    index_on_ray,
    projected_workers,
    ray_session,
)
from vigil.scale.shards import Shard, effective_sampling, plan_shards
from vigil.scale.work import ShardOutput, ShardScan, embed_shard, scan_shard

__all__ = [
    "ClusterError",
    "RayIndexReport",
    "Shard",
    "ShardOutput",
    "ShardScan",
    "effective_sampling",
    "embed_shard",
    "index_on_ray",
    "plan_shards",
    "projected_workers",
    "ray_session",
    "scan_shard",
]

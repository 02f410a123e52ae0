"""What a Ray worker does with one shard: decode it, pick grid candidates, embed the kept ones.

These are plain functions of plain data (a ``Shard``, settings, frame indexes) so
they run the same in a Ray worker, in a test, or in a debugger; ``vigil.scale.ray_index``
wraps them as Ray tasks. Nothing here touches the catalog: the driver owns every
write, so a task that dies half-way and is retried leaves no trace to clean up.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.catalog.types import NewFrame
from vigil.embedders.base import Embedder, create_embedder
from vigil.scale.shards import Shard
from vigil.settings import EmbedderSettings, SamplingSettings
from vigil.sources.readers import open_frames
from vigil.sources.sampling import sample_frames, thumbnail
from vigil.sources.types import Frame
from vigil.structure.thumbnails import thumbnail_relpath

# The same slack as vigil.sources.sampling: 0.3 / 0.1 must land in slot 3, not 2.
_SLOT_EPS = 1e-6


@dataclass(frozen=True)
class ShardScan:
    """Grid candidates of a shard with their de-duplication thumbnails, in media order."""

    shard: Shard
    frame_indexes: tuple[int, ...]
    thumbs: np.ndarray  # (N, 32, 32) float32 in 0..1, from vigil.sources.sampling.thumbnail
    errors: tuple[str, ...] = ()
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.thumbs.shape[0] != len(self.frame_indexes):
            raise ValueError(
                f"expected one thumbnail per candidate ({len(self.frame_indexes)}), "
                f"got {self.thumbs.shape[0]}"
            )


@dataclass(frozen=True)
class ShardOutput:
    """Embedded frames of a shard, ready for the driver to write: rows, previews, vectors."""

    shard: Shard
    model_id: str
    frames: tuple[NewFrame, ...]
    previews: tuple[np.ndarray, ...]  # downscaled RGB frames, written as JPEG thumbnails
    vectors: np.ndarray  # (N, dim) float32, unit norm
    errors: tuple[str, ...] = ()
    seconds: float = 0.0
    worker: str = ""  # host:pid of the process that did the work

    def __post_init__(self) -> None:
        if not len(self.frames) == len(self.previews) == self.vectors.shape[0]:
            raise ValueError(
                f"expected as many previews and vectors as frames ({len(self.frames)}), "
                f"got {len(self.previews)} previews and {self.vectors.shape[0]} vectors"
            )


def slot_of(media_time: float, interval_s: float) -> int:
    """Grid slot of a media time: the rule of ``vigil.sources.sampling``."""
    return math.floor(media_time / interval_s + _SLOT_EPS)


def _window(shard: Shard, frames: Iterator[Frame]) -> Iterator[Frame]:
    """The decoded frames whose slot lies inside the shard."""
    for frame in frames:
        slot = slot_of(frame.media_time, shard.interval_s)
        if shard.end_slot is not None and slot >= shard.end_slot:
            return
        if slot >= shard.first_slot:
            yield frame


def _candidates(shard: Shard, frames: Iterator[Frame]) -> Iterator[Frame]:
    """Grid candidates of the shard: the first frame of each of its slots.

    ``sample_frames`` with de-duplication off is the grid alone; fed only the
    shard's frames it picks what the whole-source sampler picks inside the shard.
    """
    grid_only = SamplingSettings(interval_s=shard.interval_s, dedup_threshold=0.0)
    return sample_frames(_window(shard, frames), grid_only)


def _reader_start(shard: Shard) -> float:
    # One slot early: a frame a hair before the slot boundary still belongs to the
    # slot (the slack above), and the reader's own start filter must not drop it.
    return max(0.0, (shard.first_slot - 1) * shard.interval_s)


def scan_shard(shard: Shard) -> ShardScan:
    """Decode a shard and return its grid candidates with their de-duplication thumbnails."""
    started = time.perf_counter()
    indexes: list[int] = []
    thumbs: list[np.ndarray] = []
    with open_frames(shard.source, start_time=_reader_start(shard)) as reader:
        for frame in _candidates(shard, iter(reader)):
            indexes.append(frame.index)
            thumbs.append(thumbnail(frame.image))  # (32, 32)
        errors = tuple(reader.errors)
    stacked = np.stack(thumbs) if thumbs else np.empty((0, 32, 32), np.float32)
    return ShardScan(shard, tuple(indexes), stacked, errors, time.perf_counter() - started)


@functools.lru_cache(maxsize=2)
def _cached_embedder(settings_json: str) -> Embedder:
    """One model per worker process, loaded by its first task and reused by the next ones."""
    return create_embedder(EmbedderSettings.model_validate_json(settings_json))


def preview(image: np.ndarray, longest_side: int) -> np.ndarray:
    """Downscale as ``write_thumbnail`` does, so the driver's JPEG is byte-identical."""
    height, width = image.shape[:2]
    scale = min(1.0, longest_side / max(height, width))
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class DecodedShard:
    """The kept frames of a shard, decoded on a CPU worker, waiting for an embedding actor."""

    shard: Shard
    frames: tuple[NewFrame, ...]
    previews: tuple[np.ndarray, ...]
    images: tuple[np.ndarray, ...]  # full-size RGB uint8 frames, what the embedder sees
    errors: tuple[str, ...] = ()
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if not len(self.frames) == len(self.previews) == len(self.images):
            raise ValueError(
                f"expected as many previews and images as frames ({len(self.frames)}), "
                f"got {len(self.previews)} previews and {len(self.images)} images"
            )


def decode_shard(shard: Shard, wanted: tuple[int, ...] | None, thumbnail_size: int) -> DecodedShard:
    """Decode a shard again and keep the candidates in ``wanted`` (None: every candidate)."""
    started = time.perf_counter()
    keep = None if wanted is None else frozenset(wanted)
    last_wanted = None if not wanted else max(wanted)
    frames: list[NewFrame] = []
    previews: list[np.ndarray] = []
    images: list[np.ndarray] = []
    if keep is not None and not keep:
        return DecodedShard(shard, (), (), ())
    with open_frames(shard.source, start_time=_reader_start(shard)) as reader:
        for frame in _candidates(shard, iter(reader)):
            if keep is None or frame.index in keep:
                relpath = thumbnail_relpath(shard.source.id, frame.index)
                frames.append(NewFrame.from_frame(frame, relpath))
                previews.append(preview(frame.image, thumbnail_size))
                images.append(frame.image)
            if last_wanted is not None and frame.index >= last_wanted:
                break  # everything asked for is decoded: skip the rest of the shard
        errors = tuple(reader.errors)
    return DecodedShard(
        shard,
        tuple(frames),
        tuple(previews),
        tuple(images),
        errors,
        time.perf_counter() - started,
    )


def embed_decoded(decoded: DecodedShard, embedder: Embedder) -> ShardOutput:
    """Embed a decoded shard's frames (all of them in one call: the embedder batches and,
    on a GPU, overlaps the upload of one batch with the model's work on the last)."""
    started = time.perf_counter()
    if decoded.images:
        vectors = embedder.embed_images(list(decoded.images))  # (N, dim)
    else:
        vectors = np.empty((0, embedder.dim), np.float32)
    return ShardOutput(
        decoded.shard,
        embedder.model_id,
        decoded.frames,
        decoded.previews,
        vectors.astype(np.float32, copy=False),
        decoded.errors,
        decoded.seconds + time.perf_counter() - started,
        f"{socket.gethostname()}:{os.getpid()}",
    )


def embed_shard(
    shard: Shard,
    wanted: tuple[int, ...] | None,
    embedder_settings: EmbedderSettings,
    thumbnail_size: int,
) -> ShardOutput:
    """Decode a shard again and embed the candidates in ``wanted`` (None: every candidate)."""
    embedder = _cached_embedder(embedder_settings.model_dump_json())
    return embed_decoded(decode_shard(shard, wanted, thumbnail_size), embedder)


class EmbedActor:
    """A process that holds one embedder (on its GPU, or a CPU) and embeds decoded shards.

    Why an actor: loading a CLIP model on a GPU takes seconds and the GPU must stay
    busy, so the model lives in one long-running process per GPU and CPU decode
    tasks feed it; a task per shard would reload it or share the GPU blindly.
    """

    def __init__(self, settings_json: str) -> None:
        self.embedder = create_embedder(EmbedderSettings.model_validate_json(settings_json))

    def embed(self, decoded: DecodedShard) -> ShardOutput:
        return embed_decoded(decoded, self.embedder)

    def device(self) -> str:
        return self.embedder.device


__all__ = [
    "DecodedShard",
    "EmbedActor",
    "ShardOutput",
    "ShardScan",
    "decode_shard",
    "embed_decoded",
    "embed_shard",
    "preview",
    "scan_shard",
    "slot_of",
]

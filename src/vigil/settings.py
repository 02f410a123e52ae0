"""One typed settings tree for Vigil.

Values come from (highest first) explicit arguments, ``VIGIL_*`` environment
variables (nested keys joined by ``__``, e.g. ``VIGIL_SAMPLING__INTERVAL_S=2``),
then the defaults below. Unknown keys are rejected so a typo never silently
falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: 'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'.
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


class ObjectSettings(BaseModel):
    """Object structuring: which detections become object records with their own vectors."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(
        0.4,
        gt=0.0,
        lt=1.0,
        description="Minimum detector confidence for an object to be stored.",
    )
    classes: list[str] = Field(
        default_factory=list,
        description="COCO class names to keep (e.g. person, car); empty keeps all 80.",
    )
    min_box_px: int = Field(
        12, ge=1, description="Boxes narrower or shorter than this (pixels) are too small to embed."
    )
    crop_margin: float = Field(
        0.1, ge=0.0, le=1.0, description="Context kept around a box when cropping, per side."
    )
    batch_size: int = Field(8, ge=1, le=256, description="Frames per detector batch.")


class TrackSettings(BaseModel):
    """Tracking: which detections are followed from frame to frame, and how often."""

    model_config = ConfigDict(extra="forbid")

    rate_fps: float = Field(
        5.0,
        gt=0.0,
        le=60.0,
        description="Frames per second of media the tracker sees (independent of sampling).",
    )
    tracker: str = Field("bytetrack", description="Tracker backend: bytetrack or sort.")
    min_score: float = Field(
        0.3, gt=0.0, lt=1.0, description="Minimum detector confidence handed to the tracker."
    )
    activation_score: float = Field(
        0.5, gt=0.0, lt=1.0, description="Minimum confidence for a detection to start a track."
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="COCO class names to track; empty tracks all 80.",
    )
    lost_after_s: float = Field(
        1.5, gt=0.0, le=60.0, description="A track not seen for this long is finished."
    )
    min_observations: int = Field(
        3, ge=1, description="Tracks seen on fewer tracked frames are dropped as noise."
    )
    max_points: int = Field(
        120, ge=2, le=10_000, description="Trajectory points kept per track (first and last kept)."
    )
    crops_per_track: int = Field(
        4, ge=1, le=64, description="Crops embedded and averaged into a track's one vector."
    )
    min_box_px: int = Field(
        12, ge=1, description="Boxes narrower or shorter than this (pixels) are not tracked."
    )
    batch_size: int = Field(8, ge=1, le=256, description="Frames per detector batch.")


class SamplingSettings(BaseModel):
    """How frames are picked from a source before they reach the model."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(
        1.0, gt=0, description="Take at most one frame per this many seconds of media time."
    )
    dedup_threshold: float = Field(
        # 0.01: on the real walkway clip codec noise between frames is 0.002-0.006 and
        # one-second samples differ by up to 0.028; 0.01 keeps 76 of 80 seconds there.
        0.01,
        ge=0,
        le=1,
        description=(
            "Skip a sampled frame whose mean absolute difference to the last kept frame "
            "(on a 32x32 grey thumbnail, 0..1) is below this; 0 keeps every sampled frame."
        ),
    )


class EmbedderSettings(BaseModel):
    """Which image-text model embeds frames and queries."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        "auto",
        description=(
            "Registered embedder name ('clip', 'concept-bridge', 'fake'), or 'auto' to take "
            "the best one whose weights are available."
        ),
    )
    clip_model: str | None = Field(
        None,
        description=(
            "Hub name or local folder of a CLIP/SigLIP checkpoint for the 'clip' backend; "
            "when unset, 'auto' does not pick 'clip'."
        ),
    )
    device: str | None = Field(
        None,
        pattern=DEVICE_PATTERN,
        description=(
            "Device of the embedder alone, overriding the top-level 'device' "
            "(VIGIL_DEVICE); unset: the top-level one."
        ),
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="Images per model call; unset: the backend's default for its device "
        "(clip: 16 on a CPU, 256 on CUDA).",
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto",
        description="Weights and activations of the clip backend: 'auto' is fp16 on CUDA and "
        "fp32 on a CPU; vectors are float32 either way.",
    )


class IndexSettings(BaseModel):
    """The approximate-nearest-neighbour vector index."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["auto", "flat", "hnsw", "ivfpq"] = Field(
        "auto",
        description=(
            "FAISS index: flat (exact, float32 in RAM), hnsw (graph, float32 + graph in RAM, "
            "~1.8 KB a 384-d vector), ivfpq (compressed codes, <= 64 bytes a vector in RAM, "
            "exact re-rank from the catalog's stored vectors; trained once 30 x nlist vectors "
            "are in, exact until then). auto: hnsw up to ivfpq_above vectors, ivfpq past it."
        ),
    )
    ivfpq_above: int = Field(
        2_000_000,
        ge=1,
        description=(
            "With kind auto, the vector count past which the index becomes ivfpq (2M 384-d "
            "vectors in HNSW take ~3.6 GB of RAM)."
        ),
    )
    ivf_nlist: int = Field(
        0,
        ge=0,
        description=(
            "IVF lists (coarse clusters) of the ivfpq tier; 0: a power of two near 4 x "
            "sqrt(vectors) when it is trained (1M -> 2048, 10M -> 8192)."
        ),
    )
    ivf_nprobe: int = Field(
        256,
        ge=1,
        description=(
            "IVF lists scanned per query (more: better recall, slower; 1M clustered 384-d, "
            "2048 lists: 64 -> recall@10 0.87, p95 5.8 ms; 256 -> 0.95, 9.2 ms)."
        ),
    )
    pq_bytes: int = Field(
        48,
        ge=4,
        le=56,
        description=(
            "Bytes of product-quantizer code per vector (the largest divisor of the dim up to "
            "this is used); with its 8-byte id a vector costs pq_bytes + 8 bytes of RAM."
        ),
    )
    store: Literal["faiss", "pgvector", "milvus"] = Field(
        "faiss",
        description=(
            "Where the index lives: faiss (files under the workspace, in this process), "
            "pgvector (a table in the catalog's PostgreSQL, which needs the pgvector "
            "extension) or milvus (a Milvus server at milvus_uri, for sites that outgrow one "
            "machine; token from the environment variable VIGIL_MILVUS_TOKEN)."
        ),
    )
    milvus_uri: str = Field(
        "", description="Milvus server address with store milvus, e.g. http://10.0.0.5:19530."
    )
    rerank: int = Field(
        10,
        ge=1,
        description=(
            "The ivfpq tier fetches rerank x k candidates by code and re-ranks them exactly "
            "with the stored vectors."
        ),
    )

    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph degree (FAISS IndexHNSWFlat).")
    ef_construction: int = Field(64, ge=8, description="HNSW build-time candidate list size.")
    ef_search: int = Field(
        128,
        ge=8,
        description="HNSW query-time candidate list size (128: recall@10 0.91 at 1M, p95 < 1 ms).",
    )
    single_query_threads: int = Field(
        1,
        ge=0,
        description=(
            "FAISS threads for a search of one query vector (0: as many as for batches). One: "
            "an isolated query pays the wake-up of idle OpenMP threads and gains nothing from "
            "them (bench/bench_search.py --gap-ms measures both)."
        ),
    )


class ApiSettings(BaseModel):
    """The REST API and web console server (``vigil serve``)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(
        "127.0.0.1",
        description=(
            "Interface to bind. Loopback by default; any other address needs at least one "
            "API key ('vigil api-key create') or the server refuses to start."
        ),
    )
    port: int = Field(8765, ge=1, le=65535, description="TCP port to listen on.")
    max_upload_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (image queries); counted while it streams in.",
    )
    media_roots: list[Path] = Field(
        default_factory=list,
        description=(
            "Folders whose videos and image folders may be registered as sources through the "
            "API (besides the workspace home); anything resolving outside is refused."
        ),
    )
    job_workers: int = Field(
        2,
        ge=1,
        le=16,
        description=(
            "Background threads running long jobs (indexing, auto-label, model runs); a "
            "long model run holds one for its whole duration."
        ),
    )
    debug: bool = Field(
        False,
        description=(
            "Developer mode: also list the test backends (e.g. 'fake') among the models the "
            "console offers. Off for operators, who would take them for real models."
        ),
    )


class ScaleSettings(BaseModel):
    """Indexing on a Ray cluster (``vigil index --ray ADDRESS``)."""

    model_config = ConfigDict(extra="forbid")

    shard_seconds: float = Field(
        60.0,
        gt=0,
        description=(
            "Media seconds per shard (one Ray task); image folders: files per shard. Longer "
            "shards amortise the per-task seek; shorter ones spread a long file over more "
            "workers."
        ),
    )
    max_task_retries: int = Field(
        5,
        ge=0,
        le=100,
        description="Times Ray re-runs a shard whose worker process or node died.",
    )
    tasks_per_cpu: int = Field(
        2,
        ge=1,
        le=16,
        description="Embedding tasks kept in flight per cluster CPU (bounds driver memory).",
    )
    actor_pool: Literal["auto", "always"] = Field(
        "auto",
        description=(
            "'auto': when the cluster has GPUs (and 'device' is not 'cpu'), one embedding "
            "actor per GPU holds the model and CPU tasks decode for it; without GPUs each "
            "shard is one CPU task that decodes and embeds. 'always': the actor pool on "
            "CPU-only clusters too (one CPU actor per two CPUs)."
        ),
    )


class RuntimeSettings(BaseModel):
    """Running small models on live streams and archives (``vigil run``): events and alerts."""

    model_config = ConfigDict(extra="forbid")

    rate_fps: float = Field(
        2.0, gt=0, le=60, description="Frames per second each source is scored at (at most)."
    )
    on_threshold: float = Field(
        0.6, gt=0, le=1, description="A class score at or above this may start an event."
    )
    off_threshold: float = Field(
        0.4,
        ge=0,
        le=1,
        description="An open event stays open while its score is at or above this (hysteresis).",
    )
    min_duration_s: float = Field(
        1.0,
        ge=0,
        description="The score must stay above on_threshold this long before an event starts.",
    )
    quiet_period_s: float = Field(
        3.0,
        ge=0,
        description="An event closes after its score stays below off_threshold this long.",
    )
    strip_frames: int = Field(
        6, ge=1, le=32, description="Frames around the peak kept in an event's frame strip."
    )
    webhooks: list[str] = Field(
        default_factory=list, description="URLs every event is POSTed to (JSON, signed)."
    )
    webhook_secret: str | None = Field(
        None,
        description=(
            "Webhooks are always signed (Standard Webhooks headers) with the workspace's own "
            "secret, shown by 'vigil webhook secret'. Set this (VIGIL_RUNTIME__WEBHOOK_SECRET) "
            "to a 'whsec_...' secret to sign with it instead; any value also adds the older "
            "HMAC-SHA256 'Vigil-Signature' header."
        ),
    )
    webhook_timeout_s: float = Field(5.0, gt=0, description="Per-request webhook timeout.")
    mqtt_brokers: list[str] = Field(
        default_factory=list,
        description=(
            "MQTT brokers (mqtt://HOST[:PORT]) every event is published to, in the shape of "
            "Frigate's frigate/events messages (QoS 1, through the alert outbox)."
        ),
    )
    mqtt_topic: str = Field("vigil/events", description="Topic the MQTT event messages go to.")
    public_url: str | None = Field(
        None,
        description=(
            "Base URL of this Vigil server as alert receivers reach it (e.g. "
            "https://vigil.example.org); evidence links in alerts are absolute when set, "
            "API paths otherwise."
        ),
    )
    max_attempts: int = Field(
        8, ge=1, le=100, description="Delivery attempts per alert before it is marked failed."
    )
    backoff_base_s: float = Field(
        1.0, gt=0, description="First retry delay; doubles per attempt, with full jitter."
    )
    backoff_max_s: float = Field(300.0, gt=0, description="Longest delay between two attempts.")
    alert_log: bool = Field(
        True, description="Also append every alert to home/alerts.jsonl (one JSON object a line)."
    )
    reconnect_base_s: float = Field(
        1.0, gt=0, description="First delay before reconnecting a dropped stream; doubles."
    )
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest delay between reconnects.")
    model_poll_s: float = Field(
        5.0,
        gt=0,
        description=(
            "Seconds between checks for a newly promoted model of a registry model's scenario; "
            "a promotion is picked up without a restart."
        ),
    )
    drift_psi_bound: float = Field(
        0.2,
        gt=0,
        description=(
            "A 'drift' warning event is raised when the population stability index of a "
            "source's model confidence against the training reference passes this."
        ),
    )
    drift_window: int = Field(
        120, ge=1, description="Recent scored frames per source the drift index is computed on."
    )
    drift_min_frames: int = Field(
        30, ge=1, description="Scored frames a source needs before its drift index is shown."
    )


class ScenarioSettings(BaseModel):
    """Long-tail scenarios: auto-labeling and the review queue."""

    model_config = ConfigDict(extra="forbid")

    autolabel_batch_size: int = Field(
        4096,
        ge=1,
        le=1_000_000,
        description=(
            "Items labeled per transaction; a stopped run keeps every finished batch and "
            "resumes after it."
        ),
    )
    review_limit: int = Field(20, ge=1, le=10_000, description="Items shown per review queue.")
    annotator: str = Field(
        "human", min_length=1, description="Name stored with answers when none is given."
    )


class DistillSettings(BaseModel):
    """Small per-scenario models distilled from the big one (vigil.distill)."""

    model_config = ConfigDict(extra="forbid")

    input_size: int = Field(
        64, ge=16, le=512, description="Square input side of the student, pixels."
    )
    epochs: int = Field(30, ge=1, le=1000, description="Most training epochs (early stopping).")
    patience: int = Field(
        5, ge=1, le=1000, description="Epochs without a better validation score before stopping."
    )
    batch_size: int = Field(64, ge=2, le=4096, description="Training batch size.")
    temperature: float = Field(2.0, gt=0, description="Distillation temperature.")
    alpha: float = Field(
        0.7, ge=0, le=1, description="Weight of the teacher's soft targets vs the hard labels."
    )
    prune_amount: float = Field(
        0.5, ge=0, lt=1, description="Share of conv channels pruned (0 = no pruned model)."
    )
    quantize: bool = Field(True, description="Also produce an INT8 (static, QDQ) model.")
    seed: int = Field(0, description="Seed of splits, initialisation and data order.")


class Settings(BaseSettings):
    """Everything Vigil can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(
        Path("vigil-data"),
        description="Workspace folder: catalog database, vector index, thumbnails.",
    )
    read_only: bool = Field(
        False,
        description=(
            "Open the workspace read-only (VIGIL_READ_ONLY=1 or 'vigil --read-only'): search "
            "works, nothing is written (no migration, index file or lock). Chosen by itself "
            "when the home cannot be written, e.g. an archived snapshot."
        ),
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the catalog. Unset: an embedded SQLite file in 'home'. "
            "Use postgresql+psycopg://user:pass@host/db for several writers."
        ),
    )
    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses unsafe defaults."
    )
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description=(
            "Where torch runs, for every stage that uses it (embedder, distillation training, "
            "anomaly features): 'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or "
            "'cuda:N'. Asking for CUDA where there is none is an error."
        ),
    )
    thumbnail_size: int = Field(
        320, ge=32, le=4096, description="Longest side of stored frame thumbnails, in pixels."
    )
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    objects: ObjectSettings = Field(default_factory=ObjectSettings)
    tracks: TrackSettings = Field(default_factory=TrackSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    scale: ScaleSettings = Field(default_factory=ScaleSettings)
    scenarios: ScenarioSettings = Field(default_factory=ScenarioSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    distill: DistillSettings = Field(default_factory=DistillSettings)

    @model_validator(mode="after")
    def _one_device(self) -> Settings:
        """The embedder follows the top-level device unless it names its own."""
        if self.embedder.device is None:
            self.embedder = self.embedder.model_copy(update={"device": self.device})
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'catalog.db').resolve()}"

"""Real CLIP / SigLIP image-text models through Hugging Face ``transformers``.

This is the backend to use when CLIP-family weights are at hand: a hub name
(on a machine that can reach the hub) or a local folder written by
``save_pretrained``. All preprocessing (resize, crop, mean/std, text length and
padding) comes from the checkpoint's own processor and tokenizer configs, so a
different checkpoint needs no code change. SigLIP is the one family fact we
restate: it was trained with texts padded to the full length, and its pooled
text vector is read at the last position, so its texts are padded to
``max_length``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vigil.embedders.base import Embedder, l2_normalize, register_embedder, resolve_device
from vigil.embedders.bundled import quiet_transformers
from vigil.embedders.preprocess import FrameStager, ImageRecipe, preprocess_on_device
from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.settings import EmbedderSettings


def _model_label(model: str) -> str:
    """'clip:<hub name>' or 'clip:<folder name>' part of the model id."""
    path = Path(model).expanduser()
    return path.resolve().name if path.is_dir() else model


#: Images per model call when none is configured: small on a CPU (memory, latency), large
#: on a GPU, where a ViT-B/32 needs batches of a few hundred to reach its forward speed.
DEFAULT_BATCH = {"cpu": 16, "cuda": 256}
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class ClipEmbedder(Embedder):
    """Embeds images and texts with a CLIP or SigLIP checkpoint.

    ``precision`` 'auto' runs the weights in fp16 on CUDA and fp32 on the CPU ('fp32',
    'fp16', 'bf16' force one); vectors are returned as float32 either way.
    On CUDA, images are preprocessed by ``vigil.embedders.preprocess`` on the device
    when the checkpoint's processor can be reproduced there (CLIP and SigLIP can),
    else by the processor itself. On a CPU the processor stays the default: PIL's
    resize is faster there than torch's (41-78 vs 19-27 img/s on 768x576 frames, 2
    loaded cores). ``tensor_preprocess`` True/False forces one or the other.

    >>> embedder = ClipEmbedder("/models/clip-vit-base-patch32")  # doctest: +SKIP
    >>> embedder.embed_texts(["a person on a bicycle"]).shape  # doctest: +SKIP
    (1, 512)
    """

    name = "clip"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = "auto",
        batch_size: int | None = None,
        precision: str = "auto",
        tensor_preprocess: bool | None = None,
    ) -> None:
        if not model.strip():
            raise InvalidInputError("clip_model must name a hub model or a local folder, got ''")
        resolved = resolve_device(device)
        dtype = _dtype_name(precision, resolved)
        loaded, image_processor, tokenizer, config = _load(model, resolved, dtype)
        self._setup(
            loaded,
            image_processor,
            tokenizer,
            config,
            model_id=f"clip:{_model_label(model)}",
            device=resolved,
            batch_size=batch_size,
            tensor_preprocess=tensor_preprocess,
        )

    @classmethod
    def from_parts(
        cls,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        *,
        model_id: str,
        device: str | None = "auto",
        batch_size: int | None = None,
        precision: str = "auto",
        tensor_preprocess: bool | None = None,
    ) -> ClipEmbedder:
        """An embedder around a model already in memory (benchmarks, tests, notebooks).

        ``tokenizer`` may be None for an image-only use; ``embed_texts`` then fails.
        """
        import torch

        resolved = resolve_device(device)
        dtype = getattr(torch, _dtype_name(precision, resolved))
        self = cls.__new__(cls)
        self._setup(
            model.eval().to(resolved, dtype=dtype),
            image_processor,
            tokenizer,
            model.config,
            model_id=model_id,
            device=resolved,
            batch_size=batch_size,
            tensor_preprocess=tensor_preprocess,
        )
        return self

    def _setup(
        self,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        config: Any,
        *,
        model_id: str,
        device: str,
        batch_size: int | None,
        tensor_preprocess: bool | None,
    ) -> None:
        self.device = device
        self.batch_size = (
            batch_size or DEFAULT_BATCH["cuda" if device.startswith("cuda") else "cpu"]
        )
        self.model_id = model_id
        self._model, self._image_processor, self._tokenizer = model, image_processor, tokenizer
        self._model_type = str(config.model_type)
        self.dim = _projection_dim(config)
        self._max_length = _max_text_length(config, tokenizer)
        if tensor_preprocess is None:
            tensor_preprocess = device.startswith("cuda")
        self.recipe = ImageRecipe.from_processor(image_processor) if tensor_preprocess else None
        self._stager: FrameStager | None = None

    @property
    def dtype(self) -> Any:
        return self._model.dtype

    def _embed_image_batch(self, images: list[np.ndarray]) -> np.ndarray:
        """The checkpoint's own processor on the CPU: the reference, and the fallback."""
        import torch

        inputs = self._image_processor(
            images=images, return_tensors="pt", input_data_format="channels_last"
        )
        pixels = inputs["pixel_values"].to(self.device, dtype=self._model.dtype)  # (N, 3, H, W)
        with torch.inference_mode():
            output = self._model.get_image_features(pixel_values=pixels)
        return _features(output)

    def _embed_all_images(self, images: list[np.ndarray]) -> np.ndarray:
        """Batches of same-size frames preprocessed on the device, pipelined.

        While this thread queues batch k (preprocessing + model) and then waits for
        batch k-1's vectors, the stager's thread copies batch k+1 into pinned memory
        and uploads it on its own stream: the CPU copy, the upload and the GPU's work
        overlap, and the GPU always has the next batch queued. Images whose size the
        recipe cannot take go to the processor.
        """
        recipe = self.recipe
        if recipe is None:
            return super()._embed_all_images(images)
        if self._stager is None:
            self._stager = FrameStager(self.device)
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        groups: dict[tuple[int, int], list[int]] = {}
        fallback: list[int] = []
        for position, image in enumerate(images):
            height, width = image.shape[:2]
            if recipe.fits(height, width):
                groups.setdefault((height, width), []).append(position)
            else:
                fallback.append(position)
        batches = [
            group[start : start + self.batch_size]
            for group in groups.values()
            for start in range(0, len(group), self.batch_size)
        ]
        stager = self._stager
        pending: tuple[list[int], Any] | None = None
        upcoming = stager.stage_async([images[i] for i in batches[0]]) if batches else None
        for number, batch in enumerate(batches):
            assert upcoming is not None
            staged = upcoming.result()  # (B, H, W, 3) uint8 on the device, upload queued
            if number + 1 < len(batches):  # copy k+1 while k is queued and run
                upcoming = stager.stage_async([images[i] for i in batches[number + 1]])
            features = self._forward(stager.use(staged), recipe)
            if pending is not None:
                self._collect(out, *pending)  # k-1: the GPU already has k queued behind it
            pending = (batch, features)
        if pending is not None:
            self._collect(out, *pending)
        if fallback:
            out[fallback] = self._batched([images[i] for i in fallback], self._embed_image_batch)
        return l2_normalize(out)

    def _forward(self, staged: Any, recipe: ImageRecipe) -> Any:
        """Queue preprocessing and the model on the device; returns features not yet copied.

        Preprocessing stays on the model's stream, queued by this thread: run on the
        upload stream beside the previous batch's forward pass it measured slower
        (ViT-B/32 on an H200: 7,886 vs 9,184 img/s at batch 128).
        """
        import torch

        with torch.inference_mode():
            pixels = preprocess_on_device(staged, recipe, dtype=self._model.dtype)
            output = self._model.get_image_features(pixel_values=pixels)  # (B, dim)
            return getattr(output, "pooler_output", output)

    def _collect(self, out: np.ndarray, positions: list[int], features: Any) -> None:
        vectors = features.float().cpu().numpy()  # waits for this batch only
        if vectors.shape != (len(positions), self.dim):
            raise ModelUnavailableError(
                f"{self.name} returned shape {vectors.shape}, "
                f"expected ({len(positions)}, {self.dim})"
            )
        out[positions] = vectors

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        if self._tokenizer is None:
            raise ModelUnavailableError(f"{self.model_id} was built without a tokenizer")

        # SigLIP pools the last position, so it must see the padding it was trained with.
        padding: str | bool = "max_length" if self._model_type.startswith("siglip") else True
        tokens = self._tokenizer(
            texts,
            padding=padding,
            truncation=True,
            max_length=self._max_length,
            return_tensors="pt",
        )
        arguments = {"input_ids": tokens["input_ids"].to(self.device)}
        if "attention_mask" in tokens and not self._model_type.startswith("siglip"):
            arguments["attention_mask"] = tokens["attention_mask"].to(self.device)
        with torch.inference_mode():
            output = self._model.get_text_features(**arguments)
        return _features(output)


def _features(output: Any) -> np.ndarray:
    """transformers 5 returns an output object whose pooler_output is projected; 4.x a tensor."""
    tensor = getattr(output, "pooler_output", output)
    result: np.ndarray = tensor.float().cpu().numpy()
    return result


def _dtype_name(precision: str, device: str) -> str:
    """torch dtype name for a precision setting: 'auto' is fp16 on CUDA, fp32 elsewhere."""
    if precision == "auto":
        return "float16" if device.startswith("cuda") else "float32"
    if precision not in _DTYPES:
        raise InvalidInputError(
            f"precision must be 'auto' or one of {sorted(_DTYPES)}, got {precision!r}"
        )
    return _DTYPES[precision]


def _load(model: str, device: str, dtype: str) -> tuple[Any, Any, Any, Any]:
    """Load model, image processor, tokenizer and config; every failure is ModelUnavailableError."""
    try:
        import torch
        from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer
    except ImportError as error:
        raise ModelUnavailableError(
            f"the clip backend needs torch and transformers: {error}"
        ) from error
    is_folder = Path(model).expanduser().is_dir()
    source = str(Path(model).expanduser()) if is_folder else model
    if not is_folder and _looks_like_path(model):
        raise ModelUnavailableError(
            f"CLIP/SigLIP folder {model!r} does not exist; expected a folder written by "
            "save_pretrained (config.json, weights, preprocessor_config.json, tokenizer files)"
        )
    try:
        with quiet_transformers():
            config = AutoConfig.from_pretrained(source)
            loaded = AutoModel.from_pretrained(source, dtype=getattr(torch, dtype))
            image_processor = AutoImageProcessor.from_pretrained(source)  # type: ignore[no-untyped-call]
            tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as error:  # transformers raises OSError, ValueError, HF hub errors, ...
        where = (
            f"the folder {source}"
            if is_folder
            else f"{model!r}, which is not a local folder, so it was looked up on the model hub"
        )
        raise ModelUnavailableError(
            f"cannot load a CLIP/SigLIP checkpoint from {where}: "
            f"{type(error).__name__}: {str(error).strip().rstrip('.')}. "
            "Without network access, pass a local folder holding config.json, the weights, "
            "preprocessor_config.json and the tokenizer files (as written by save_pretrained)."
        ) from error
    if not (hasattr(loaded, "get_image_features") and hasattr(loaded, "get_text_features")):
        raise ModelUnavailableError(
            f"{source}: expected an image-text model with get_image_features/get_text_features "
            f"(CLIP, SigLIP), got {type(loaded).__name__}"
        )
    return loaded.eval().to(device), image_processor, tokenizer, config


def _looks_like_path(model: str) -> bool:
    """A hub id is 'name' or 'owner/name'; anything else is meant as a folder."""
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def _projection_dim(config: Any) -> int:
    """The shared embedding size: CLIP's projection_dim, SigLIP's text projection_size."""
    dim = getattr(config, "projection_dim", None)
    if dim is None:
        dim = getattr(getattr(config, "text_config", None), "projection_size", None)
    if dim is None:
        raise ModelUnavailableError(
            f"cannot tell the embedding size of a {config.model_type!r} model: "
            "expected projection_dim or text_config.projection_size in its config"
        )
    return int(dim)


def _max_text_length(config: Any, tokenizer: Any) -> int:
    """Longest text the model's position table holds (tokenizers often say 'unlimited')."""
    positions = int(config.text_config.max_position_embeddings)
    if tokenizer is None:
        return positions
    declared = getattr(tokenizer, "model_max_length", positions)
    return min(positions, int(declared)) if isinstance(declared, int) else positions


def _clip_available(settings: EmbedderSettings) -> bool:
    """Whether to build the clip backend for these settings.

    Asked for by name, it only needs ``clip_model``: loading then either works
    (downloading from the hub if it can) or says exactly why not. For 'auto' it
    must be loadable without a download, a folder holding ``config.json`` or a
    hub name already in the local cache, so that 'auto' falls back to the
    offline default instead of failing.
    """
    if not settings.clip_model:
        return False
    if settings.name == "clip":
        return True
    path = Path(settings.clip_model).expanduser()
    if path.is_dir():
        return (path / "config.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(settings.clip_model, "config.json")
    except Exception:  # not a valid repo id, or no huggingface_hub: not loadable offline
        return False
    return isinstance(cached, str)


@register_embedder(
    "clip",
    is_available=_clip_available,
    priority=100,
    summary=(
        "CLIP/SigLIP through transformers; set embedder.clip_model "
        "(VIGIL_EMBEDDER__CLIP_MODEL) to a hub name or a local checkpoint folder"
    ),
)
def _create_clip(settings: EmbedderSettings) -> Embedder:
    if not settings.clip_model:
        raise ModelUnavailableError(
            "the clip embedder needs embedder.clip_model (VIGIL_EMBEDDER__CLIP_MODEL) "
            "set to a hub name or a local CLIP/SigLIP folder"
        )
    return ClipEmbedder(
        settings.clip_model,
        device=settings.device,
        batch_size=settings.batch_size,
        precision=settings.precision,
    )


__all__ = ["ClipEmbedder"]

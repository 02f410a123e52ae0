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

from vigil.embedders.base import Embedder, register_embedder, resolve_device
from vigil.embedders.bundled import quiet_transformers
from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.settings import EmbedderSettings


def _model_label(model: str) -> str:
    """'clip:<hub name>' or 'clip:<folder name>' part of the model id."""
    path = Path(model).expanduser()
    return path.resolve().name if path.is_dir() else model


class ClipEmbedder(Embedder):
    """Embeds images and texts with a CLIP or SigLIP checkpoint.

    ``half_precision`` (default: on for CUDA, off for CPU) runs the model in
    fp16; vectors are returned as float32 either way.

    >>> embedder = ClipEmbedder("/models/clip-vit-base-patch32")  # doctest: +SKIP
    >>> embedder.embed_texts(["a person on a bicycle"]).shape  # doctest: +SKIP
    (1, 512)
    """

    name = "clip"

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        batch_size: int = 16,
        half_precision: bool | None = None,
    ) -> None:
        if not model.strip():
            raise InvalidInputError("clip_model must name a hub model or a local folder, got ''")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.half_precision = (
            self.device.startswith("cuda") if half_precision is None else half_precision
        )
        self.model_id = f"clip:{_model_label(model)}"
        self._model, self._image_processor, self._tokenizer, config = _load(
            model, self.device, self.half_precision
        )
        self._model_type = str(config.model_type)
        self.dim = _projection_dim(config)
        self._max_length = _max_text_length(config, self._tokenizer)

    def _embed_image_batch(self, images: list[np.ndarray]) -> np.ndarray:
        import torch

        inputs = self._image_processor(
            images=images, return_tensors="pt", input_data_format="channels_last"
        )
        pixels = inputs["pixel_values"].to(self.device, dtype=self._model.dtype)  # (N, 3, H, W)
        with torch.inference_mode():
            output = self._model.get_image_features(pixel_values=pixels)
        return _features(output)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        import torch

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


def _load(model: str, device: str, half_precision: bool) -> tuple[Any, Any, Any, Any]:
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
            loaded = AutoModel.from_pretrained(
                source, dtype=torch.float16 if half_precision else torch.float32
            )
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
    return ClipEmbedder(settings.clip_model, device=settings.device, batch_size=settings.batch_size)


__all__ = ["ClipEmbedder"]

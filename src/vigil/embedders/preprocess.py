"""A checkpoint's image preprocessing as torch operations on the model's own device.

Why: the Hugging Face image processor resizes one picture at a time on the CPU
(about 300 images/s), which capped every CLIP/SigLIP model at a few percent of
its forward speed on a GPU. Here a batch of uint8 frames is uploaded once and
resized, centre-cropped, rescaled and normalised as one batch of tensor
operations where the model runs.

What it must equal: the processor read from the checkpoint (``resample``,
``size``, ``crop_size``, ``rescale_factor``, ``image_mean``/``image_std``), not
restated here. The two differ only in interpolation arithmetic: torch's
antialiased bicubic/bilinear kernels follow PIL's, and the resized image is
rounded to uint8 as PIL and torchvision do, so most pixels agree exactly and the
rest by one or two levels of 255 (``tests/embedders/test_preprocess.py`` bounds
it on real frames and photos). A recipe this module cannot reproduce exactly
(another interpolation, a longest-edge cap, padding) is refused by
``ImageRecipe.from_processor``, and the caller keeps the processor: never a
silently different input.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

#: A batch on its way to the device: the tensor, and the event that marks its upload done
#: (None on a CPU, where nothing is uploaded).
Staged = tuple["torch.Tensor", Any]

# PIL's resample codes (PIL.Image.Resampling) that torch's antialiased kernels reproduce.
_INTERPOLATION = {2: "bilinear", 3: "bicubic"}


@dataclass(frozen=True)
class ImageRecipe:
    """The steps of a CLIP-style image processor, with their parameters.

    ``shortest_edge`` resizes the short side to that length keeping the aspect ratio
    (the long side truncated, as ``transformers`` does); otherwise ``resize_hw``
    resizes to a fixed (height, width). ``crop_hw`` is the centre crop, if any.
    """

    interpolation: str  # 'bicubic' or 'bilinear'
    shortest_edge: int | None
    resize_hw: tuple[int, int] | None
    crop_hw: tuple[int, int] | None
    rescale: float  # applied to 0..255 pixel values; 1.0 when the processor does not rescale
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATION.values():
            raise InvalidInputError(
                f"interpolation must be one of {sorted(_INTERPOLATION.values())}, "
                f"got {self.interpolation!r}"
            )
        if (self.shortest_edge is None) == (self.resize_hw is None):
            raise InvalidInputError("exactly one of shortest_edge and resize_hw must be set")
        if any(s <= 0 for s in self.std):
            raise InvalidInputError(f"std must be positive, got {self.std}")

    @classmethod
    def from_processor(cls, processor: Any) -> ImageRecipe | None:
        """The recipe of a ``transformers`` CLIP/SigLIP image processor, or None if unsupported.

        None means: some step here would not equal the processor's (no resize, another
        interpolation, a longest-edge cap, padding), so the processor must be used.
        """
        if not getattr(processor, "do_resize", False) or getattr(processor, "do_pad", False):
            return None
        interpolation = _interpolation(getattr(processor, "resample", None))
        if interpolation is None:
            return None
        size = _as_dict(getattr(processor, "size", None))
        if size.get("longest_edge") or size.get("max_height") or size.get("max_width"):
            return None
        shortest_edge: int | None = None
        resize_hw: tuple[int, int] | None = None
        if size.get("shortest_edge"):
            shortest_edge = int(size["shortest_edge"])
        elif size.get("height") and size.get("width"):
            resize_hw = (int(size["height"]), int(size["width"]))
        else:
            return None
        crop_hw: tuple[int, int] | None = None
        if getattr(processor, "do_center_crop", False):
            crop = _as_dict(getattr(processor, "crop_size", None))
            if not (crop.get("height") and crop.get("width")):
                return None
            crop_hw = (int(crop["height"]), int(crop["width"]))
        rescale = (
            float(processor.rescale_factor) if getattr(processor, "do_rescale", False) else 1.0
        )
        mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
        std: tuple[float, float, float] = (1.0, 1.0, 1.0)
        if getattr(processor, "do_normalize", False):
            mean = _triple(processor.image_mean)
            std = _triple(processor.image_std)
        return cls(interpolation, shortest_edge, resize_hw, crop_hw, rescale, mean, std)

    def resized_hw(self, height: int, width: int) -> tuple[int, int]:
        """Size after the resize step, with ``transformers``' rounding (int truncation)."""
        if self.resize_hw is not None:
            return self.resize_hw
        assert self.shortest_edge is not None
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        if width <= height:
            return new_long, self.shortest_edge
        return self.shortest_edge, new_long

    def output_hw(self, height: int, width: int) -> tuple[int, int]:
        return self.crop_hw if self.crop_hw is not None else self.resized_hw(height, width)

    def fits(self, height: int, width: int) -> bool:
        """Whether an image of this size needs no padding (the crop lies inside the resize)."""
        if self.crop_hw is None:
            return True
        resized = self.resized_hw(height, width)
        return resized[0] >= self.crop_hw[0] and resized[1] >= self.crop_hw[1]


def _interpolation(resample: Any) -> str | None:
    """PIL's resample code, or torchvision's InterpolationMode, as a torch mode we reproduce."""
    value = getattr(resample, "value", resample)
    if isinstance(value, str):  # torchvision.transforms.InterpolationMode('bicubic')
        return value if value in _INTERPOLATION.values() else None
    try:
        return _INTERPOLATION.get(int(value))
    except (TypeError, ValueError):
        return None


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, int):
        return {"shortest_edge": value}
    # transformers' SizeDict: a dataclass with optional height/width/shortest_edge/...
    keys = ("height", "width", "shortest_edge", "longest_edge", "max_height", "max_width")
    return {key: getattr(value, key, None) for key in keys}


def _triple(value: Any) -> tuple[float, float, float]:
    values = [float(v) for v in (value if isinstance(value, list | tuple) else [value] * 3)]
    if len(values) != 3:
        raise InvalidInputError(f"expected 3 channel values, got {values}")
    return values[0], values[1], values[2]


def preprocess_on_device(
    batch: torch.Tensor, recipe: ImageRecipe, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(N, H, W, 3) uint8 frames of one size, on any device -> (N, 3, h, w) model input.

    Runs where ``batch`` lives. The resize is two matrix products, width then
    height, each rounded to 0..255: PIL resamples in this order and keeps the
    intermediate image as uint8, clipping bicubic overshoot at edges. The matrices
    are torch's own antialiased interpolation weights (``_resize_matrix``), cut to
    the rows and columns the centre crop keeps, so nothing outside the crop is
    computed; on a GPU the products run at matrix speed, about four times faster
    than ``interpolate``'s antialiasing kernels on 768x576 frames.
    """
    import torch

    if batch.dtype != torch.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
        raise InvalidInputError(
            f"expected an (N, H, W, 3) uint8 batch, got {tuple(batch.shape)} {batch.dtype}"
        )
    height, width = int(batch.shape[1]), int(batch.shape[2])
    new_h, new_w = recipe.resized_hw(height, width)
    crop_h, crop_w = recipe.crop_hw if recipe.crop_hw is not None else (new_h, new_w)
    if crop_h > new_h or crop_w > new_w:
        raise InvalidInputError(
            f"a {height}x{width} image resized to {new_h}x{new_w} is smaller than the "
            f"{crop_h}x{crop_w} crop"
        )
    top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
    device = batch.device
    # (N, H, W, 3) -> (N, 3, H, W) float, 0..255, in one copy.
    x = batch.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)
    if new_w != width:
        columns = _resize_matrix(width, new_w, recipe.interpolation, device)[left : left + crop_w]
        x = torch.matmul(x, columns.T).clamp_(0.0, 255.0).round_()  # (N, 3, H, crop_w)
    elif crop_w != width:
        x = x[..., left : left + crop_w]
    if new_h != height:
        rows = _resize_matrix(height, new_h, recipe.interpolation, device)[top : top + crop_h]
        x = torch.matmul(rows, x).clamp_(0.0, 255.0).round_()  # (N, 3, crop_h, crop_w)
    elif crop_h != height:
        x = x[..., top : top + crop_h, :]
    scale, shift = _affine(recipe, device)
    x = torch.addcmul(shift, x, scale)  # x * rescale / std - mean / std, one pass
    return x.contiguous() if dtype is None else x.to(dtype).contiguous()


@functools.lru_cache(maxsize=32)
def _resize_matrix(size: int, new_size: int, mode: str, device: torch.device) -> torch.Tensor:
    """(new_size, size) float32 weights of torch's antialiased resize along one axis.

    Interpolating the identity matrix gives the weights of the linear map itself:
    row i of the result is where input pixel i lands. Computed in float64 on the CPU.
    """
    import torch
    import torch.nn.functional as functional

    identity = torch.eye(size, dtype=torch.float64)[None, None]  # (1, 1, size, size)
    impulses = functional.interpolate(
        identity, size=(size, new_size), mode=mode, align_corners=False, antialias=True
    )[0, 0]  # (size, new_size)
    return impulses.T.contiguous().to(device=device, dtype=torch.float32)


@functools.lru_cache(maxsize=32)
def _affine(recipe: ImageRecipe, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel scale and shift, made once per device: a tensor built from a Python
    list is a blocking copy, which would stall the pipelined upload of the next batch."""
    import torch

    scale = [recipe.rescale / s for s in recipe.std]
    shift = [-m / s for m, s in zip(recipe.mean, recipe.std, strict=True)]
    return (
        torch.tensor(scale, device=device).view(1, 3, 1, 1),
        torch.tensor(shift, device=device).view(1, 3, 1, 1),
    )


class FrameStager:
    """Copies frames into reusable page-locked (pinned) buffers and uploads them asynchronously.

    Why pinned: a copy from pinned host memory runs as DMA alongside the GPU's work
    (``non_blocking``); from ordinary memory the driver copies it through its own
    staging buffer first, at a fraction of the speed. The copy into the buffer runs
    on several threads (numpy releases the GIL for plain copies), because one core
    copies about 5 GB/s and a batch of 512 PAL frames is 680 MB (on a 16-core H200 host,
    measured: 5 GB/s on one thread, 28-31 on 8, 33-43 on 16; the upload 54 GB/s).
    Two buffers per shape alternate, and staging runs on its own thread
    (``stage_async``), so batch k+1 is copied and uploaded while the caller's thread
    queues batch k's model work and the GPU runs it.
    """

    SLICES = 4  # uploads per batch, each overlapping the copy of the next slice

    def __init__(self, device: str, threads: int | None = None) -> None:
        self.device = device
        self.pin = device.startswith("cuda")
        # One core is left to the thread that queues the model's work.
        self.threads = threads or max(1, min(16, (os.cpu_count() or 1) - 1))
        self._buffers: dict[tuple[int, int, int], list[torch.Tensor]] = {}
        self._copied: dict[int, Any] = {}  # id(buffer) -> CUDA event: its last upload is done
        self._turn = 0
        self._stream: Any = None
        self._stager: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="vigil-stage")
            if self.threads > 1
            else None
        )

    def stage(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Frames of one shape -> (N, H, W, 3) uint8 tensor on the device, usable at once."""
        return self.use(self.stage_async(images).result())

    def stage_async(self, images: Sequence[np.ndarray]) -> concurrent.futures.Future[Staged]:
        """Start staging on the stager's own thread, while the caller queues GPU work.

        Call ``use`` on the result in the thread that runs the model.
        """
        if self._stager is None:
            self._stager = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vigil-up")
        return self._stager.submit(self._stage, list(images))

    def use(self, staged: Staged) -> torch.Tensor:
        """Make the model's stream wait for the upload (not the host: it goes on queueing)."""
        import torch

        tensor, uploaded = staged
        if uploaded is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(uploaded)
            tensor.record_stream(current)  # the allocator must not reuse it before the model ran
        return tensor

    def _stage(self, images: list[np.ndarray]) -> Staged:
        import torch

        height, width = images[0].shape[:2]
        if not self.pin:
            # On the CPU the stacked array is the model's input: no buffer to reuse.
            return torch.from_numpy(np.stack(images)), None
        key = (len(images), height, width)
        buffers = self._buffers.get(key)
        if buffers is None:
            if len(self._buffers) > 4:  # many shapes (photo folders): do not hoard pinned memory
                torch.cuda.synchronize(self.device)
                self._buffers.clear()
                self._copied.clear()
            shape = (len(images), height, width, 3)
            buffers = [torch.empty(shape, dtype=torch.uint8).pin_memory() for _ in range(2)]
            self._buffers[key] = buffers
        self._turn = 1 - self._turn
        host = buffers[self._turn]
        previous = self._copied.get(id(host))
        if previous is not None:
            previous.synchronize()  # never overwrite a buffer whose upload is still running
        if self._stream is None:
            self._stream = torch.cuda.Stream(device=self.device)  # type: ignore[no-untyped-call]
        with torch.cuda.stream(self._stream):
            on_device = torch.empty(host.shape, dtype=torch.uint8, device=self.device)
            # Copy and upload in slices: slice i goes up (DMA, beside the model's work on
            # the batch before) while the threads copy slice i + 1.
            step = max(1, -(-len(images) // self.SLICES))
            for first in range(0, len(images), step):
                last = min(first + step, len(images))
                self._copy_into(host.numpy()[first:last], images[first:last])
                on_device[first:last].copy_(host[first:last], non_blocking=True)
            done = torch.cuda.Event()  # type: ignore[no-untyped-call]
            done.record(self._stream)
        self._copied[id(host)] = done
        return on_device, done

    def _copy_into(self, target: np.ndarray, images: Sequence[np.ndarray]) -> None:
        if self._pool is None or len(images) < 2:
            for position, image in enumerate(images):
                np.copyto(target[position], image)
            return
        step = -(-len(images) // self.threads)

        def copy(first: int) -> None:
            for position in range(first, min(first + step, len(images))):
                np.copyto(target[position], images[position])

        list(self._pool.map(copy, range(0, len(images), step)))

    def close(self) -> None:
        for pool in (self._pool, self._stager):
            if pool is not None:
                pool.shutdown(wait=True)
        self._buffers.clear()


__all__ = ["FrameStager", "ImageRecipe", "Staged", "preprocess_on_device"]

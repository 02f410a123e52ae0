"""Checks that need a GPU, run as one script on a machine that has one (CI has none).

The same comparisons as the CPU tests, on CUDA:
  1. on-device preprocessing vs the checkpoint's processor on real frames and photos
     (levels of 255, normalised units), and a tiny random CLIP's embeddings on both paths;
  2. distillation training on CUDA vs the CPU (same data, seed, epochs): accuracy, time;
  3. anomaly patch features on CUDA vs the CPU: largest difference, time.

    python bench/gpu_checks.py --video /path/to/vtest.avi
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from bench_gpu import DEFAULT_VIDEO, read_frames


def photos() -> list[np.ndarray]:
    import skimage.data

    return [getattr(skimage.data, n)() for n in ("astronaut", "chelsea", "coffee", "rocket")]


def check_preprocess(images: list[np.ndarray], device: str) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, SiglipImageProcessor

    from vigil.embedders.clip import ClipEmbedder
    from vigil.embedders.preprocess import ImageRecipe, preprocess_on_device

    processors = {
        "clip-224": CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        ),
        "siglip-224": SiglipImageProcessor(size={"height": 224, "width": 224}),
    }
    for name, processor in processors.items():
        recipe = ImageRecipe.from_processor(processor)
        assert recipe is not None
        std = np.array(recipe.std, dtype=np.float32).reshape(3, 1, 1)
        worst, mean = 0.0, 0.0
        for image in images:
            want = processor(images=[image], return_tensors="pt")["pixel_values"][0].numpy()
            batch = torch.from_numpy(np.array(image[None])).to(device)
            got = preprocess_on_device(batch, recipe)[0].cpu().numpy()
            levels = np.abs(got - want) * std * 255.0
            worst, mean = max(worst, float(levels.max())), max(mean, float(levels.mean()))
        print(
            f"preprocess {name} on {device} vs {type(processor).__name__}: max {worst:.3f} "
            f"levels ({worst / 255 / min(recipe.std):.4f} normalised), worst image mean "
            f"{mean:.4f} levels, {len(images)} images"
        )
    vision = {"image_size": 224, "patch_size": 32, "hidden_size": 64, "intermediate_size": 128}
    vision |= {"num_hidden_layers": 2, "num_attention_heads": 4}
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
    text |= {"num_attention_heads": 4}
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
    processor = processors["clip-224"]
    fast = ClipEmbedder.from_parts(
        model, processor, None, model_id="tiny", device=device, precision="fp32"
    )
    slow = ClipEmbedder.from_parts(
        model, processor, None, model_id="tiny", device=device, precision="fp32",
        tensor_preprocess=False,
    )  # fmt: skip
    half = ClipEmbedder.from_parts(model, processor, None, model_id="tiny", device=device)
    reference = slow.embed_images(images)
    for label, embedder in (("fp32", fast), (f"{half.dtype}", half)):
        cosines = np.sum(embedder.embed_images(images) * reference, axis=1)
        print(
            f"tiny random CLIP on {device}, tensor path ({label}) vs processor path (fp32): "
            f"min cosine {cosines.min():.6f}"
        )


def check_distill(device: str) -> None:
    from vigil.distill.data import DistillDataset, split_dataset
    from vigil.distill.student import StudentSpec, build_student
    from vigil.distill.train import TrainConfig, train_student

    # Two real photos, 64-px crops at random places: which photo a crop came from.
    rng = np.random.default_rng(0)
    sources = photos()[:2]
    images, labels = [], []
    for _ in range(400):
        label = int(rng.integers(2))
        photo = sources[label]
        top = int(rng.integers(photo.shape[0] - 96))
        left = int(rng.integers(photo.shape[1] - 96))
        crop = np.ascontiguousarray(photo[top : top + 96, left : left + 96, :3])
        images.append(cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA))
        labels.append(label)
    targets = np.asarray(labels, dtype=np.int64)
    dataset = DistillDataset(
        images=np.stack(images),
        teacher_probs=np.eye(2, dtype=np.float32)[targets] * 0.8 + 0.1,
        human_labels=targets,
        class_names=("astronaut", "chelsea"),
        item_ids=tuple(f"crop:{i}" for i in range(len(images))),
    )
    splits = split_dataset(dataset)
    config = TrainConfig(epochs=6, input_size=64, batch_size=64, seed=0, threads=4)
    for where in ("cpu", device):
        started = time.perf_counter()
        result = train_student(
            build_student(StudentSpec(2, widths=(16, 32, 64)), seed=0),
            splits.train,
            splits.validation,
            dataclasses.replace(config, device=where),
            progress=False,
        )
        places = {p.device.type for p in result.model.parameters()}
        print(
            f"distill on {where}: val accuracy {result.best_val_accuracy:.3f}, "
            f"{time.perf_counter() - started:.1f} s, model handed back on {places}"
        )


def check_anomaly(images: list[np.ndarray], device: str) -> None:
    from vigil.anomaly.features import PatchExtractor

    outputs = {}
    for where in ("cpu", device):
        extractor = PatchExtractor(device=where, batch_size=32)
        extractor(images[:2])  # load and warm up
        started = time.perf_counter()
        outputs[where] = extractor(images)
        seconds = time.perf_counter() - started
        print(f"anomaly features on {where}: {len(images) / seconds:.1f} img/s, {extractor.device}")
    difference = np.abs(outputs[device] - outputs["cpu"])
    scale = np.abs(outputs["cpu"]).max()
    print(
        f"anomaly features {device} vs cpu: max abs diff {difference.max():.2e} "
        f"(features up to {scale:.1f}), shape {outputs['cpu'].shape}"
    )


def guarded(name: str, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception:
        print(f"FAILED {name}:\n{traceback.format_exc()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    args = parser.parse_args()
    frames = read_frames(args.video, 8)[::2]
    images = [*frames, *photos()]
    cuda = args.device.startswith("cuda")
    print(f"device {args.device}: {torch.cuda.get_device_name(args.device) if cuda else 'CPU'}")
    guarded("preprocess", lambda: check_preprocess(images, args.device))
    guarded("distill", lambda: check_distill(args.device))
    guarded("anomaly", lambda: check_anomaly(read_frames(args.video, 64), args.device))


if __name__ == "__main__":
    main()

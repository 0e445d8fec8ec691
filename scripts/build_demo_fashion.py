r"""Build the similar-cases demo offline: the built-in backbone fine-tuned on Fashion-MNIST, published with its gallery.

Fashion-MNIST (Xiao et al., 2017; MIT) comes from Debian's dataset-fashion-mnist package. The built-in
tf_efficientnet_lite0 (ImageNet weights) gets a 10-class head; its stem and first six stages stay frozen, so their
output is computed once per training image, and only the last stage and the head are trained, with a cosine-softmax
head (NormFace, Wang et al., 2017) so that nearest neighbours in the pooled embedding agree with the classes. The
images, 28x28 grey, are read at a small input size (64 px by default) replicated to RGB by the model's own transform.

Writes, under --out:
    model/          timm's Hub layout (config.json, model.safetensors, README.md) and model/gallery/, its gallery
    references/     the gallery's images (Fashion-MNIST training images), one sub-folder per class
    test/           held-aside test images (from the t10k file: never trained on, never in the gallery)
    examples/       --examples more test images per class, for the UI
    demo.json       what was built: sizes, seed, seconds per phase, the gallery's sha256 and build rate

    OMP_NUM_THREADS=1 .venv/bin/python scripts/build_demo_fashion.py --out demo/fashion              # test size
    OMP_NUM_THREADS=1 .venv/bin/python scripts/build_demo_fashion.py --out demo/fashion-large --train 10000 \
        --test 1000 --epochs 8                                                                      # benchmark size
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads OpenMP
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data import create_transform

from explainers.models.default import DEFAULT_ARCH
from explainers.models.loading import load_model
from explainers.similar.build import BuildSummary, build_gallery, console_progress

DATA = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FROZEN_STAGES = 6  # blocks[:6] frozen; blocks[6] (one stage), conv_head, bn2 and the classifier are trained
SCALE = 16.0  # cosine-softmax temperature (NormFace uses 10-30)
BATCH = 128


@dataclass(frozen=True)
class Demo:
    """Where the demo's parts are, and what demo.json records."""

    root: Path
    model_dir: Path
    references: Path
    test: Path
    examples: Path
    info: dict[str, Any]


def folder_name(name: str) -> str:
    """A class name as a folder name ("T-shirt/top" -> "T-shirt_top"); the gallery matches it back loosely."""
    return name.replace("/", "_")


def load_split(split: str, data: Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of "train" or "t10k", from the idx files (LeCun's format).

    Raises:
        FileNotFoundError: the data set is not installed, with the command that installs it.
    """
    files = [data / f"{split}-images-idx3-ubyte.gz", data / f"{split}-labels-idx1-ubyte.gz"]
    if not all(f.is_file() for f in files):
        raise FileNotFoundError(
            f"Fashion-MNIST is not in {data}; install it with: sudo apt-get install dataset-fashion-mnist"
        )
    with gzip.open(files[0]) as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(files[1]) as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    return images, labels


def build_demo(
    out: Path,
    *,
    train: int = 1500,
    gallery: int | None = None,
    test: int = 200,
    size: int = 64,
    epochs: int = 6,
    examples: int = 20,
    seed: int = 0,
    data: Path = DATA,
    log: Callable[[str], None] = print,
    bar: bool = True,
) -> Demo:
    """Fine-tune, publish and build the gallery; see the module docstring for the layout under ``out``.

    Args:
        out: the demo folder (its model/, references/, test/ and examples/ are replaced).
        train: training images (a seeded sample of Fashion-MNIST's training file).
        gallery: reference images: the first ``gallery`` of the same sample (default: the training images).
        test: held-aside test images written to test/.
        size: model input size in pixels.
        epochs: passes over the training images.
        examples: test images per class written to examples/ (apart from test/).
        seed: every random choice (samples, initialisation, dropout, order).
        data: folder of the idx files.
        log: where progress lines go.
        bar: draw a progress bar while the gallery builds.
    """
    torch.manual_seed(seed)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    images, labels = load_split("train", data)
    test_images, test_labels = load_split("t10k", data)
    rng = np.random.default_rng(seed)
    sample = rng.permutation(len(images))[: max(train, gallery or train)]
    test_order = rng.permutation(len(test_images))
    backbone = load_model(None)
    data_config: dict[str, Any] = {
        "input_size": (3, size, size),
        "interpolation": "bilinear",
        "mean": tuple(backbone.data_config["mean"]),
        "std": tuple(backbone.data_config["std"]),
        "crop_pct": 1.0,
        "crop_mode": "center",
    }
    net = timm.create_model(DEFAULT_ARCH, num_classes=len(CLASSES))
    state = {k: v for k, v in backbone.model.state_dict().items() if not k.startswith("classifier.")}
    missing = net.load_state_dict(state, strict=False).missing_keys
    if sorted(missing) != ["classifier.bias", "classifier.weight"]:
        raise RuntimeError(f"the built-in backbone does not fit {DEFAULT_ARCH}: missing {missing}")
    transform = create_transform(**data_config, is_training=False)
    seconds["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    frozen = _frozen_features(net, [transform(Image.fromarray(x).convert("RGB")) for x in images[sample[:train]]])
    seconds["frozen features"] = time.perf_counter() - clock
    log(f"frozen features of {train} training images: {seconds['frozen features']:.1f} s")
    clock = time.perf_counter()
    _train_tail(net, frozen, torch.from_numpy(labels[sample[:train]].astype(np.int64)), epochs=epochs, seed=seed)
    seconds["training"] = time.perf_counter() - clock
    log(f"trained the last stage and head for {epochs} epochs: {seconds['training']:.1f} s")

    out = Path(out)
    parts = {name: out / name for name in ("model", "references", "test", "examples")}
    for path in parts.values():
        shutil.rmtree(path, ignore_errors=True)
    net = net.to(memory_format=torch.contiguous_format).eval()
    timm.models.save_for_hf(
        net,
        str(parts["model"]),
        model_config={"label_names": list(CLASSES), "task": "multiclass"},
        data_config=data_config,
        safe_serialization=True,
    )
    (parts["model"] / "README.md").write_text(_card(train, size, epochs, seed), encoding="utf-8")
    references = sample[: gallery or train]
    _write_pngs(parts["references"], images, labels, references, "train")
    _write_pngs(parts["test"], test_images, test_labels, test_order[:test], "t10k")
    rest = test_order[test:]
    chosen = np.concatenate([rest[test_labels[rest] == c][:examples] for c in range(len(CLASSES))])
    _write_pngs(parts["examples"], test_images, test_labels, chosen, "t10k")

    model = load_model(f"local:{parts['model']}", cache=False)
    if bar:
        with console_progress("gallery") as progress:
            built = build_gallery(model, parts["references"], out_dir=parts["model"] / "gallery", progress=progress)
    else:
        built = build_gallery(model, parts["references"], out_dir=parts["model"] / "gallery")
    log(f"gallery: {built.count} references, {built.images_per_second:.0f} images/s, sha256 {built.sha256[:12]}")
    info = _info(train, len(references), test, size, epochs, examples, seed, seconds, built, model.weights_sha256)
    (out / "demo.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return Demo(out, parts["model"], parts["references"], parts["test"], parts["examples"], info)


def _frozen_features(net: Any, pictures: list[torch.Tensor]) -> torch.Tensor:
    """Output of the stem and the frozen stages, computed once (channels_last: ~3x faster on CPU)."""
    net.to(memory_format=torch.channels_last).eval()
    out = []
    with torch.inference_mode():
        for first in range(0, len(pictures), 256):
            x = torch.stack(pictures[first : first + 256]).contiguous(memory_format=torch.channels_last)
            x = net.bn1(net.conv_stem(x))
            for stage in net.blocks[:FROZEN_STAGES]:
                x = stage(x)
            out.append(x)
    return torch.cat(out).clone()


def _tail(net: Any, features: torch.Tensor) -> torch.Tensor:
    """Pre-logit embedding from frozen features: the trained stages, conv_head, bn2 and the pool."""
    for stage in net.blocks[FROZEN_STAGES:]:
        features = stage(features)
    return net.forward_head(net.bn2(net.conv_head(features)), pre_logits=True)


def _train_tail(net: Any, features: torch.Tensor, targets: torch.Tensor, *, epochs: int, seed: int) -> None:
    """Cosine-softmax training of the tail, then the cosine head folded into timm's plain Linear classifier."""
    trained = torch.nn.ModuleList([*net.blocks[FROZEN_STAGES:], net.conv_head, net.bn2, net.classifier])
    trained.requires_grad_(True)
    optimiser = torch.optim.AdamW(trained.parameters(), lr=5e-3, weight_decay=1e-4)
    steps = epochs * -(-len(targets) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 5e-3, total_steps=max(steps, 1))
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        trained.train()
        for batch in torch.randperm(len(targets), generator=order).split(BATCH):
            z = F.dropout(F.normalize(_tail(net, features[batch]), dim=1), 0.2, training=True)
            logits = SCALE * F.linear(z, F.normalize(net.classifier.weight, dim=1))
            loss = F.cross_entropy(logits, targets[batch], label_smoothing=0.1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    net.eval().requires_grad_(False)
    with torch.inference_mode():
        norm = torch.cat([_tail(net, f).norm(dim=1) for f in features.split(256)]).median()
    with torch.no_grad():
        # s * cos(w, z) = (s / |z|) * w_hat . z: dividing by the median |z| keeps typical logits (and so the
        # probabilities the app shows) where training left them, and the class ranking is exactly the cosine one.
        net.classifier.weight.copy_(SCALE * F.normalize(net.classifier.weight, dim=1) / norm)
        net.classifier.bias.zero_()


def _write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray, rows: np.ndarray, split: str) -> None:
    for row in rows:
        path = folder / folder_name(CLASSES[labels[row]]) / f"{split}-{row:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[row]).save(path)


def _card(train: int, size: int, epochs: int, seed: int) -> str:
    return (
        "---\nlicense: apache-2.0\nlibrary_name: timm\ndatasets:\n- fashion_mnist\n---\n"
        f"# {DEFAULT_ARCH} fine-tuned on Fashion-MNIST (demo)\n\n"
        f"The built-in {DEFAULT_ARCH} (ImageNet) with a 10-class head, its last stage and head trained for {epochs} "
        f"epochs on {train} Fashion-MNIST training images (seed {seed}) at {size}x{size} px. Built offline by "
        "scripts/build_demo_fashion.py for the similar-cases demo; gallery/ holds its reference gallery. "
        "Fashion-MNIST: Zalando Research, MIT licence.\n"
    )


def _info(
    train: int,
    gallery: int,
    test: int,
    size: int,
    epochs: int,
    examples: int,
    seed: int,
    seconds: dict[str, float],
    built: BuildSummary,
    weights_sha256: str,
) -> dict[str, Any]:
    return {
        "data": "Fashion-MNIST (Debian dataset-fashion-mnist, MIT)",
        "classes": list(CLASSES),
        "train": train,
        "gallery": gallery,
        "test": test,
        "examples_per_class": examples,
        "size": size,
        "epochs": epochs,
        "seed": seed,
        "weights_sha256": weights_sha256,
        "gallery_sha256": built.sha256,
        "gallery_images_per_second": round(built.images_per_second, 1),
        "seconds": {**{k: round(v, 2) for k, v in seconds.items()}, "gallery": round(built.seconds, 2)},
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and build the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="demo folder (model/, references/, test/, ...)")
    parser.add_argument("--train", type=int, default=1500, help="training images")
    parser.add_argument("--gallery", type=int, default=None, help="reference images (default: the training ones)")
    parser.add_argument("--test", type=int, default=200, help="held-aside test images")
    parser.add_argument("--size", type=int, default=64, help="model input size in pixels")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs")
    parser.add_argument("--examples", type=int, default=20, help="extra test images per class for the UI")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="folder of Fashion-MNIST's idx files")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        demo = build_demo(
            args.out,
            train=args.train,
            gallery=args.gallery,
            test=args.test,
            size=args.size,
            epochs=args.epochs,
            examples=args.examples,
            seed=args.seed,
            data=args.data,
        )
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"demo in {demo.root}: python app.py --model {demo.model_dir} --gallery {demo.model_dir / 'gallery'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

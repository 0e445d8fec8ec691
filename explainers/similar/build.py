"""Building a gallery: each reference image through the model's own preprocessing to its pooled pre-logit embedding."""

from __future__ import annotations

import datetime
import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import GalleryError, ImageError
from ..models.images import load_image
from ..models.preprocess import eval_transform
from ..options import whole
from ..types import LoadedModel, Progress
from .sources import collect
from .store import write_gallery

THUMB_QUALITY = 90  # JPEG quality of thumbnails: ~2 kB at 64 px, no visible blocking at that size


@dataclass(frozen=True)
class BuildSummary:
    """What build_gallery wrote.

    Attributes:
        folder: the gallery folder.
        sha256: the gallery's identity (receipts record it).
        count: references.
        dim: embedding width.
        seconds: wall time of the whole build.
        images_per_second: references decoded, embedded and thumbnailed per second.
        manifest: the manifest written.
    """

    folder: Path
    sha256: str
    count: int
    dim: int
    seconds: float
    images_per_second: float
    manifest: dict[str, Any]


def embed(model: LoadedModel, image: torch.Tensor) -> np.ndarray:
    """Pooled pre-logit embeddings, L2-normalised: timm's forward_features then forward_head(pre_logits=True).

    Args:
        model: the model.
        image: normalised images (N, 3, H, W).

    Returns:
        float32 (N, D); a zero embedding stays zero.
    """
    net: Any = model.model  # timm's forward_features / forward_head are not on nn.Module's type
    with torch.inference_mode():
        features = net.forward_features(image.to(model.device))
        pooled = net.forward_head(features, pre_logits=True).float().flatten(1)
        return torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()


def build_gallery(
    model: LoadedModel,
    source: Any,
    *,
    out_dir: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    thumb_size: int = 64,
    batch_size: int = 32,
    image_column: str | None = None,
    label_column: str | None = None,
) -> BuildSummary:
    """Build a model's reference gallery from labelled images and write it to ``out_dir``.

    Args:
        model: the model whose embeddings the gallery holds (its weights_sha256 is recorded).
        source: a folder (class sub-folders, or a labels file), a .parquet file or a datasets.Dataset; see
            sources.collect.
        out_dir: the gallery folder, by convention MODEL_DIR/gallery; an old gallery there is replaced.
        labels: a CSV/JSONL of labels for a folder (default: labels.* or metadata.* beside the images).
        progress: called with (fraction done, "n/N images, r images/s").
        thumb_size: longest side of the stored thumbnails, in pixels.
        batch_size: images per forward pass.
        image_column: data sets: the image column.
        label_column: data sets: the class or labels column.

    Raises:
        GalleryError: no labelled images, an unreadable image (named), or an out_dir that is not a gallery.
        OptionError: thumb_size or batch_size out of range.
    """
    thumb_size = whole(thumb_size, "thumb_size", low=16, high=512, unit="pixels")
    batch_size = whole(batch_size, "batch_size", low=1, high=4096)
    start = time.perf_counter()
    refs = collect(model.task, source, labels=labels, image_column=image_column, label_column=label_column)
    transform = eval_transform(model)
    embeddings: list[np.ndarray] = []
    thumbnails: list[bytes] = []
    total = len(refs)
    for first in range(0, total, batch_size):
        batch = []
        for offset, item in enumerate(refs.fetch(first, min(first + batch_size, total))):
            with _naming(refs.ids[first + offset]):
                picture = load_image(item)
            batch.append(transform(picture))
            thumbnails.append(_thumbnail(picture, thumb_size))
        embeddings.append(embed(model, torch.stack(batch)))
        done = first + len(batch)
        if progress is not None:
            rate = done / max(time.perf_counter() - start, 1e-9)
            progress(done / total, f"{done}/{total} images, {rate:.0f} images/s")
    matrix = np.concatenate(embeddings)
    seconds = time.perf_counter() - start
    details = {
        "source": refs.description,
        "thumb_size": thumb_size,
        "embedding": "forward_head(pre_logits=True), L2-normalised",
        "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in model.data_config.items()},
        "build_seconds": round(seconds, 3),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    manifest = write_gallery(
        Path(out_dir),
        model,
        embeddings=matrix,
        labels=refs.labels,
        ids=refs.ids,
        thumbnails=thumbnails,
        details=details,
    )
    return BuildSummary(
        folder=Path(out_dir),
        sha256=manifest["sha256"],
        count=total,
        dim=int(matrix.shape[1]),
        seconds=seconds,
        images_per_second=total / max(seconds, 1e-9),
        manifest=manifest,
    )


@contextmanager
def console_progress(description: str = "gallery") -> Iterator[Progress]:
    """A Progress that draws a text progress bar (tqdm) on stderr, for scripts and CLIs.

    Args:
        description: the bar's label.
    """
    from tqdm.auto import tqdm  # a dependency of huggingface_hub; only scripts draw bars

    with tqdm(total=1000, desc=description, unit="‰", bar_format="{l_bar}{bar}| {postfix}") as bar:

        def report(fraction: float, message: str) -> None:
            bar.update(round(fraction * 1000) - bar.n)
            bar.set_postfix_str(message)

        yield report


@contextmanager
def _naming(ref_id: str) -> Iterator[None]:
    try:
        yield
    except ImageError as exc:
        raise GalleryError(f"reference {ref_id}: {exc}; fix or remove that image and build again") from exc


def _thumbnail(picture: Image.Image, size: int) -> bytes:
    small = picture.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=THUMB_QUALITY)
    return buffer.getvalue()

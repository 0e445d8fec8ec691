"""A gallery in memory: read, verified against the model, indexed, once per (model, gallery)."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ..errors import GalleryError
from ..models.loading import sha256_file
from ..types import LoadedModel, TaskKind
from .index import IndexChoice, build_grouped, build_index, choose_index
from .layout import EMBEDDINGS, MANIFEST, METADATA, REBUILD, THUMBNAILS, find_gallery, read_manifest

MAX_CACHED = int(os.environ.get("XAI_MAX_CACHED_GALLERIES", "2"))

_cache_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class Gallery:
    """A loaded gallery: labels, ids, thumbnails and a faiss index of the embeddings.

    Attributes:
        folder: where it was read from.
        sha256: its identity for receipts (sha256 of its files' hashes).
        manifest: the parsed manifest.json.
        task: the model task its labels follow.
        names: the model's output names, as the labels index them.
        ids: one per reference.
        labels: class indices (N,), label memberships (N, K) or values (N, K).
        index: the faiss index (row i is reference i), or for a multiclass gallery below the IVF size one index
            per class (index.Grouped).
        choice: which index it is.
        offsets: thumbnail i is thumbnails[offsets[i]:offsets[i + 1]].
        thumbnails: the JPEG bytes, memory-mapped.
    """

    folder: Path
    sha256: str
    manifest: Mapping[str, Any]
    task: TaskKind
    names: tuple[str, ...]
    ids: tuple[str, ...]
    labels: np.ndarray
    index: Any
    choice: IndexChoice
    offsets: np.ndarray
    thumbnails: np.ndarray

    @property
    def count(self) -> int:
        """How many references."""
        return len(self.ids)

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.manifest["dim"])

    @property
    def weights_sha256(self) -> str:
        """The weights it was built with."""
        return str(self.manifest["model"]["weights_sha256"])

    def thumbnail(self, row: int) -> bytes:
        """The JPEG bytes of reference ``row``'s thumbnail."""
        return bytes(self.thumbnails[int(self.offsets[row]) : int(self.offsets[row + 1])])


def load_gallery(folder: str | os.PathLike[str], model: LoadedModel, *, cache: bool = True) -> Gallery:
    """Read, verify and index a gallery for a model, once; later calls get it from memory.

    Args:
        folder: the gallery folder, or the model folder holding it as gallery/.
        model: the model whose queries it will answer; its weights must be the ones the gallery was built with.
        cache: False reads it again and leaves the cache alone.

    Raises:
        GalleryError: not a gallery, made for other weights or another task, or a file missing, corrupt or altered.
    """
    path = find_gallery(folder)
    if not cache:
        return _load(path, model)
    # One load at a time (galleries load at start-up): a second caller waits, then takes it from the cache. The
    # manifest's mtime is in the key, so a gallery rebuilt in place is read again.
    with _cache_lock:
        return _cached(path, (path / MANIFEST).stat().st_mtime_ns, model)


@functools.lru_cache(maxsize=MAX_CACHED)
def _cached(path: Path, mtime_ns: int, model: LoadedModel) -> Gallery:
    return _load(path, model)


def _load(path: Path, model: LoadedModel) -> Gallery:
    manifest = read_manifest(path)
    built_for = manifest["model"]
    if built_for.get("weights_sha256") != model.weights_sha256:
        raise GalleryError(
            f"the gallery in {path} was built for other weights ({built_for.get('id')}, "
            f"{built_for.get('architecture')}, sha256 {str(built_for.get('weights_sha256'))[:12]}...) than "
            f"{model.model_id}'s "
            f"(sha256 {model.weights_sha256[:12]}...): their embeddings are not comparable; {REBUILD} for this model"
        )
    task = manifest["task"]
    if task.get("kind") != model.task.kind or list(task.get("names", [])) != list(model.task.names):
        raise GalleryError(
            f"the gallery in {path} labels its references as a {task.get('kind')} task with other names than "
            f"{model.model_id} ({model.task.kind}); its config.json changed since: {REBUILD}"
        )
    for name, want in manifest["files"].items():
        if not (path / name).is_file():
            raise GalleryError(f"the gallery in {path} is missing {name}; {REBUILD}")
        if sha256_file(path / name) != want:
            raise GalleryError(
                f"{name} in {path} is corrupt or was altered (its sha256 differs from the manifest's); {REBUILD}"
            )
    try:
        tensors = safetensors.numpy.load_file(str(path / EMBEDDINGS))
        ids = tuple(str(i) for i in json.loads((path / METADATA).read_text(encoding="utf-8"))["ids"])
    except (safetensors.SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise GalleryError(f"the gallery in {path} cannot be read ({exc}); {REBUILD}") from exc
    embeddings, labels, offsets = (tensors.get(k) for k in ("embeddings", "labels", "thumb_offsets"))
    count, dim = int(manifest["count"]), int(manifest["dim"])
    # np.memmap refuses an empty file
    empty = (path / THUMBNAILS).stat().st_size == 0
    thumbs = np.zeros(0, np.uint8) if empty else np.memmap(path / THUMBNAILS, dtype=np.uint8, mode="r")
    if (
        embeddings is None
        or labels is None
        or offsets is None
        or embeddings.shape != (count, dim)
        or not _labels_fit(labels, model, count)
        or len(ids) != count
        or offsets.shape != (count + 1,)
        or int(offsets[-1]) != len(thumbs)
        or not np.isfinite(embeddings).all()
    ):
        raise GalleryError(
            f"the gallery in {path} is inconsistent (its arrays do not match its {count} references); {REBUILD}"
        )
    choice = choose_index(count, dim)
    return Gallery(
        folder=path,
        sha256=str(manifest["sha256"]),
        manifest=manifest,
        task=model.task.kind,
        names=model.task.names,
        ids=ids,
        labels=labels,
        index=build_grouped(embeddings, labels, choice)
        if model.task.kind == "multiclass" and choice.kind != "ivf"
        else build_index(embeddings, choice),
        choice=choice,
        offsets=offsets,
        thumbnails=thumbs,
    )


def _labels_fit(labels: np.ndarray, model: LoadedModel, count: int) -> bool:
    """Whether the labels array has the task's shape and values (class indices in range, finite values)."""
    k = model.task.num_outputs
    if model.task.kind == "multiclass":
        return labels.shape == (count,) and bool(((labels >= 0) & (labels < k)).all())
    return labels.shape == (count, k) and bool(np.isfinite(labels).all())

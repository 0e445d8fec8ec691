"""A gallery on disk (gallery/ beside the weights) and in memory: write, verify, load once per (model, gallery).

Layout, every file named in manifest.json with its sha256:
    manifest.json           format, the model's weights_sha256 / architecture / task, count, dim, file hashes, sha256
    embeddings.safetensors  "embeddings" float32 (N, D) L2-normalised; "labels" (int64 (N,) class, uint8 (N, K)
                            labels, or float32 (N, K) values); "thumb_offsets" int64 (N + 1,) into thumbnails.bin
    metadata.json           ids (one per reference, e.g. its path) and the label names
    thumbnails.bin          the thumbnails, JPEG files back to back: one file instead of one per reference keeps a
                            Hub repo far below its per-folder file-count advice, uploads and hashes as one blob, and a
                            neighbour's thumbnail is one slice of a memory map (~2 kB) to decode
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ..errors import GalleryError
from ..types import LoadedModel, TaskKind
from .index import IndexChoice, build_index, choose_index

FORMAT = "timm-xai-gallery"
VERSION = 1
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.safetensors"
METADATA = "metadata.json"
THUMBNAILS = "thumbnails.bin"
FILES = (EMBEDDINGS, METADATA, THUMBNAILS)
MAX_CACHED = int(os.environ.get("XAI_MAX_CACHED_GALLERIES", "2"))
_REBUILD = "rebuild it with build_gallery (or scripts/build_demo_fashion.py for the demo)"

_cache: OrderedDict[tuple[str, str, int], Gallery] = OrderedDict()
_cache_lock = threading.Lock()
_locks: dict[tuple[str, str, int], threading.Lock] = {}


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
        index: the faiss index; row i is reference i.
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


def write_gallery(
    folder: Path,
    model: LoadedModel,
    *,
    embeddings: np.ndarray,
    labels: np.ndarray,
    ids: list[str] | tuple[str, ...],
    thumbnails: list[bytes],
    details: Mapping[str, Any],
) -> dict[str, Any]:
    """Write a gallery's files into a fresh folder, then swap it in place of ``folder`` (never half-written).

    Args:
        folder: the gallery folder (by convention MODEL_DIR/gallery); an old gallery there is replaced.
        model: whose weights made the embeddings.
        embeddings: (N, D) float32, L2-normalised.
        labels: as labels.encode gives them.
        ids: one per reference.
        thumbnails: one JPEG per reference.
        details: more manifest fields (source, thumb_size, seconds, ...).

    Returns:
        The manifest.

    Raises:
        GalleryError: ``folder`` exists, holds files and is not a gallery (nothing is deleted then).
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise GalleryError(f"{folder} exists and is not a gallery; choose a new or empty folder for the gallery")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        offsets = np.zeros(len(thumbnails) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(t) for t in thumbnails])
        matrix = np.ascontiguousarray(embeddings, np.float32)
        safetensors.numpy.save_file(
            {"embeddings": matrix, "labels": labels, "thumb_offsets": offsets}, str(tmp / EMBEDDINGS)
        )
        (tmp / METADATA).write_text(json.dumps({"ids": list(ids), "names": list(model.task.names)}), encoding="utf-8")
        (tmp / THUMBNAILS).write_bytes(b"".join(thumbnails))
        hashes = {name: _sha256_file(tmp / name) for name in FILES}
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": {"id": model.model_id, "architecture": model.architecture, "weights_sha256": model.weights_sha256},
            "task": {"kind": model.task.kind, "names": list(model.task.names)},
            "count": len(ids),
            "dim": int(embeddings.shape[1]),
            **details,
            "files": hashes,
            "sha256": gallery_sha256(hashes),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def gallery_sha256(hashes: Mapping[str, str]) -> str:
    """The gallery's identity: sha256 of "name sha256" lines of its files, sorted by name."""
    lines = "".join(f"{name} {hashes[name]}\n" for name in sorted(hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


def find_gallery(folder: str | os.PathLike[str]) -> Path:
    """The gallery folder itself, given it or the model folder that holds it as gallery/.

    Raises:
        GalleryError: neither holds a manifest.json.
    """
    path = Path(folder).expanduser()
    for candidate in (path, path / "gallery"):
        if (candidate / MANIFEST).is_file():
            return candidate.resolve()
    if not path.is_dir():
        raise GalleryError(f"no gallery at {path}: the folder does not exist; {_REBUILD}")
    raise GalleryError(f"{path} has no {MANIFEST}: it is not a gallery (or its build was interrupted); {_REBUILD}")


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
    key = (model.weights_sha256, str(path), (path / MANIFEST).stat().st_mtime_ns)
    if not cache:
        return _load(path, model)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # one load per gallery at a time; others wait and take it from the cache
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        gallery = _load(path, model)
        with _cache_lock:
            _cache[key] = gallery
            while len(_cache) > MAX_CACHED:
                _cache.popitem(last=False)
        return gallery


def _load(path: Path, model: LoadedModel) -> Gallery:
    manifest = _manifest(path)
    built_for = manifest["model"]
    if built_for.get("weights_sha256") != model.weights_sha256:
        raise GalleryError(
            f"the gallery in {path} was built for other weights ({built_for.get('id')}, "
            f"{built_for.get('architecture')}, sha256 {str(built_for.get('weights_sha256'))[:12]}...) than "
            f"{model.model_id}'s "
            f"(sha256 {model.weights_sha256[:12]}...): their embeddings are not comparable; {_REBUILD} for this model"
        )
    task = manifest["task"]
    if task.get("kind") != model.task.kind or list(task.get("names", [])) != list(model.task.names):
        raise GalleryError(
            f"the gallery in {path} labels its references as a {task.get('kind')} task with other names than "
            f"{model.model_id} ({model.task.kind}); its config.json changed since: {_REBUILD}"
        )
    for name, want in manifest["files"].items():
        if not (path / name).is_file():
            raise GalleryError(f"the gallery in {path} is missing {name}; {_REBUILD}")
        if _sha256_file(path / name) != want:
            raise GalleryError(
                f"{name} in {path} is corrupt or was altered (its sha256 differs from the manifest's); {_REBUILD}"
            )
    try:
        tensors = safetensors.numpy.load_file(str(path / EMBEDDINGS))
        ids = tuple(str(i) for i in json.loads((path / METADATA).read_text(encoding="utf-8"))["ids"])
    except (safetensors.SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise GalleryError(f"the gallery in {path} cannot be read ({exc}); {_REBUILD}") from exc
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
        or len(labels) != count
        or len(ids) != count
        or offsets.shape != (count + 1,)
        or int(offsets[-1]) != len(thumbs)
        or not np.isfinite(embeddings).all()
    ):
        raise GalleryError(
            f"the gallery in {path} is inconsistent (its arrays do not match its {count} references); {_REBUILD}"
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
        index=build_index(embeddings, choice),
        choice=choice,
        offsets=offsets,
        thumbnails=thumbs,
    )


def _manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GalleryError(f"{path / MANIFEST} is not readable JSON ({exc}); {_REBUILD}") from exc
    ok = (
        isinstance(manifest, dict)
        and manifest.get("format") == FORMAT
        and isinstance(manifest.get("model"), dict)
        and isinstance(manifest.get("task"), dict)
        and isinstance(manifest.get("files"), dict)
        and set(manifest["files"]) == set(FILES)
        and isinstance(manifest.get("count"), int)
        and isinstance(manifest.get("dim"), int)
    )
    if not ok:
        raise GalleryError(f"{path / MANIFEST} is not a {FORMAT} manifest; {_REBUILD}")
    if manifest.get("version") != VERSION:
        raise GalleryError(f"{path} is gallery format {manifest.get('version')}; this app reads {VERSION}: {_REBUILD}")
    if manifest.get("sha256") != gallery_sha256(manifest["files"]):
        raise GalleryError(f"{path / MANIFEST} was altered (its sha256 does not match its files); {_REBUILD}")
    return manifest


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""A gallery on disk, beside the model's weights as gallery/: its files, its manifest and its identity.

Every file is named in manifest.json with its sha256:
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from ..errors import GalleryError
from ..models.loading import sha256_file
from ..types import LoadedModel

FORMAT = "timm-xai-gallery"
VERSION = 1
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.safetensors"
METADATA = "metadata.json"
THUMBNAILS = "thumbnails.bin"
FILES = (EMBEDDINGS, METADATA, THUMBNAILS)
REBUILD = "rebuild it with build_gallery (or scripts/build_demo_fashion.py for the demo)"


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
        hashes = {name: sha256_file(tmp / name) for name in FILES}
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
        raise GalleryError(f"no gallery at {path}: the folder does not exist; {REBUILD}")
    raise GalleryError(f"{path} has no {MANIFEST}: it is not a gallery (or its build was interrupted); {REBUILD}")


def read_manifest(path: Path) -> dict[str, Any]:
    """The gallery's manifest, checked: its format and version, its fields, and its sha256 against its file hashes.

    Raises:
        GalleryError: unreadable, of another format or version, or edited by hand.
    """
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GalleryError(f"{path / MANIFEST} is not readable JSON ({exc}); {REBUILD}") from exc
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
        raise GalleryError(f"{path / MANIFEST} is not a {FORMAT} manifest; {REBUILD}")
    if manifest.get("version") != VERSION:
        raise GalleryError(f"{path} is gallery format {manifest.get('version')}; this app reads {VERSION}: {REBUILD}")
    if manifest.get("sha256") != gallery_sha256(manifest["files"]):
        raise GalleryError(f"{path / MANIFEST} was altered (its sha256 does not match its files); {REBUILD}")
    return manifest

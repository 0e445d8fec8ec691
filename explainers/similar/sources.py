"""Labelled reference images from a folder (class sub-folders, or a CSV/JSONL of labels) or a `datasets` data set."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GalleryError
from ..models.images import ImageSource
from ..types import TaskInfo
from .labels import NO_LABEL, NameMatcher, encode, read_label

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".ppm"})
# Looked for beside the images when no labels file is given; metadata.* is what `datasets` imagefolder reads.
LABEL_FILES = ("labels.jsonl", "labels.csv", "metadata.jsonl", "metadata.csv")
FILE_KEYS = ("file_name", "file", "path", "image")
ID_COLUMNS = ("id", "image_id", "file_name")


@dataclass(frozen=True)
class References:
    """The references of a gallery, before any image is decoded.

    Attributes:
        ids: one id per reference (its path in the folder, or its data set id or row).
        labels: encoded as labels.encode does.
        fetch: (start, stop) -> the images of those rows, as load_image takes them (paths or bytes).
        description: where they come from, for the manifest.
    """

    ids: tuple[str, ...]
    labels: np.ndarray
    fetch: Callable[[int, int], list[ImageSource]]
    description: str

    def __len__(self) -> int:
        return len(self.ids)


def collect(
    task: TaskInfo,
    source: Any,
    *,
    labels: str | os.PathLike[str] | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
) -> References:
    """Find every labelled reference image in a source.

    Args:
        task: the model's task; labels are read in its terms.
        source: a folder of images (one sub-folder per class, or any layout with a labels file), a .parquet file, or
            a `datasets.Dataset` (e.g. from load_dataset("imagefolder" | "parquet" | a Hub id, split=...)).
        labels: a CSV or JSONL with one row per image (``file_name`` relative to the folder, then "label", "labels"
            or one column per label or target name); by default labels.* or metadata.* beside the images.
        image_column: data sets only: the image column (by default the first of type Image).
        label_column: data sets only: the column holding the class or labels (by default "label" or "labels").

    Raises:
        GalleryError: no images, images without a label, labels the model does not know, an unreadable labels file.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if (path.is_file() and path.suffix == ".parquet") or (path.is_dir() and _only_parquet(path)):
            return _dataset(task, _load_parquet(path), image_column, label_column, str(path))
        return _folder(task, path, Path(labels).expanduser() if labels else None)
    if hasattr(source, "features") and hasattr(source, "cast_column"):
        name = getattr(getattr(source, "info", None), "dataset_name", None)
        return _dataset(task, source, image_column, label_column, f"data set {name}" if name else "the data set")
    if hasattr(source, "keys") and hasattr(source, "column_names"):
        raise GalleryError(f"the data set has splits {sorted(source.keys())}; pass one of them, e.g. dataset['train']")
    raise GalleryError(f"expected a folder, a .parquet file or a datasets.Dataset, got {type(source).__name__}")


def _folder(task: TaskInfo, folder: Path, labels_file: Path | None) -> References:
    if not folder.is_dir():
        raise GalleryError(f"{folder} is not a folder; give a folder of images with one sub-folder per class")
    images = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )
    if not images:
        raise GalleryError(
            f"no images in {folder} or its sub-folders (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); put the "
            "reference images there, one sub-folder per class, or beside a labels.csv"
        )
    labels_file = labels_file or next((folder / n for n in LABEL_FILES if (folder / n).is_file()), None)
    matcher = NameMatcher(task.names)
    raw: dict[str, Any]
    if labels_file is not None:
        raw = _rows_by_file(labels_file, folder, set(images))
    elif task.kind == "multiclass":
        raw = {name: name.split("/")[0] for name in images if "/" in name}
    else:
        raise GalleryError(
            f"{folder} has no labels file: a {task.kind} model's references need one ({' or '.join(LABEL_FILES)}, "
            f"one row per image with file_name and {'labels' if task.kind == 'multilabel' else ', '.join(task.names)})"
        )
    read = {name: read_label(task, raw[name], matcher) for name in images if name in raw}
    matcher.check(str(labels_file or folder))
    _refuse_unlabelled([n for n in images if read.get(n, NO_LABEL) is NO_LABEL], str(folder), task, labels_file)
    paths = [str(folder / name) for name in images]
    return References(
        ids=tuple(images),
        labels=encode(task, [read[n] for n in images]),
        fetch=lambda start, stop: list(paths[start:stop]),
        description=f"folder {folder.name}" + (f" with {labels_file.name}" if labels_file else ""),
    )


def _rows_by_file(labels_file: Path, folder: Path, images: set[str]) -> dict[str, Any]:
    rows = _read_rows(labels_file)
    out: dict[str, Any] = {}
    for line, row in rows:
        key = next((k for k in FILE_KEYS if row.get(k)), None)
        if key is None:
            raise GalleryError(f"{labels_file.name} row {line} has no {' / '.join(FILE_KEYS)} naming its image")
        name = Path(str(row[key])).as_posix().removeprefix("./")
        if name not in images:
            raise GalleryError(
                f"{labels_file.name} row {line} names {name!r}, which is not an image in {folder}; "
                "paths are relative to that folder"
            )
        out[name] = {k: v for k, v in row.items() if k != key}
    return out


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GalleryError(f"cannot read labels file {path} ({exc})") from exc
    if path.suffix == ".jsonl":
        rows: list[tuple[int, dict[str, Any]]] = []
        for line, item in enumerate(text.splitlines(), start=1):
            if not item.strip():
                continue
            try:
                row = json.loads(item)
            except json.JSONDecodeError as exc:
                raise GalleryError(f"{path.name} line {line} is not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise GalleryError(f"{path.name} line {line} must be a JSON object, got {type(row).__name__}")
            rows.append((line, row))
        return rows
    if path.suffix != ".csv":
        raise GalleryError(f"labels file {path.name} must be .csv or .jsonl")
    return [(line, row) for line, row in enumerate(csv.DictReader(text.splitlines()), start=2)]


def _refuse_unlabelled(missing: list[str], where: str, task: TaskInfo, labels_file: Path | None) -> None:
    if not missing:
        return
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    fix = (
        f"list each in {labels_file.name}"
        if labels_file
        else "put each in a sub-folder named after its class, or list them in a labels.csv"
    )
    what = "class" if task.kind == "multiclass" else "labels" if task.kind == "multilabel" else "values"
    raise GalleryError(f"{len(missing)} image(s) in {where} have no {what}: {shown}; {fix}, or remove them")


def _only_parquet(folder: Path) -> bool:
    names = [p.suffix.lower() for p in folder.iterdir() if p.is_file()]
    return bool(names) and all(s == ".parquet" for s in names)


def _load_parquet(path: Path) -> Any:
    import datasets  # imported only for data sets: it costs a second at start-up

    files = sorted(str(p) for p in path.glob("*.parquet")) if path.is_dir() else [str(path)]
    return datasets.load_dataset("parquet", data_files=files, split="train")


def _dataset(task: TaskInfo, ds: Any, image_column: str | None, label_column: str | None, where: str) -> References:
    import datasets

    features = ds.features
    image_column = image_column or next((n for n, f in features.items() if isinstance(f, datasets.Image)), None)
    if image_column not in features:
        raise GalleryError(
            f"{where}: no image column among {list(features)}; name it (image_column=...), it must hold images"
        )
    if len(ds) == 0:
        raise GalleryError(f"{where}: the data set has no rows")
    matcher = NameMatcher(task.names)
    plain = ds.remove_columns([image_column])
    names = {n: f.names for n, f in plain.features.items() if isinstance(f, datasets.ClassLabel)}
    names.update({n: f.feature.names for n, f in plain.features.items() if _is_class_list(f, datasets)})
    ids, read = [], []
    for row_number, row in enumerate(plain):
        row = {k: _named(v, names.get(k)) for k, v in row.items()}
        if label_column is not None:
            row = {**row, "label" if task.kind == "multiclass" else "labels": row.get(label_column)}
        ids.append(str(next((row[c] for c in ID_COLUMNS if row.get(c) is not None), row_number)))
        read.append(read_label(task, row, matcher))
    matcher.check(where)
    _refuse_unlabelled([i for i, r in zip(ids, read, strict=True) if r is NO_LABEL], where, task, None)
    raw = ds.select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))

    def fetch(start: int, stop: int) -> list[ImageSource]:
        cells = raw[start:stop][image_column]
        return [cell.get("bytes") or cell.get("path") for cell in cells]

    return References(ids=tuple(ids), labels=encode(task, read), fetch=fetch, description=where)


def _is_class_list(feature: Any, datasets: Any) -> bool:
    inner = getattr(feature, "feature", None)
    return isinstance(feature, datasets.List) and isinstance(inner, datasets.ClassLabel)


def _named(value: Any, names: list[str] | None) -> Any:
    if names is None:
        return value
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [names[int(v)] for v in value]
    return names[int(value)] if value is not None and int(value) >= 0 else None

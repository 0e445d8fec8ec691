"""The owner's export: corrections with their images as an imagefolder data set (images + metadata.jsonl).

    datasets.load_dataset("imagefolder", data_dir=OUT)  # columns: image, id, ..., label | labels | values

Only records whose visitor consented carry an image; the others are counted and left out.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorrectionError
from ..types import Progress
from .store import CorrectionStore, Record

METADATA_NAME = "metadata.jsonl"


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote.

    Attributes:
        folder: the data set's folder.
        ids: the exported records, in file order.
        without_image: records left out because their visitor did not consent to keep the image.
        models: record count per model id.
    """

    folder: Path
    ids: tuple[str, ...]
    without_image: int
    models: dict[str, int]


def metadata_row(record: Record, file_name: str | None = None) -> dict[str, Any]:
    """One line of metadata.jsonl: the image's file, who predicted what, and the answer in its task's column.

    "label" (a class), "labels" (a list) and "values" (a list, in the units of "units") are always present, null
    where the task has no use for them, so rows of any task share one schema.
    """
    answer = record.answer
    row: dict[str, Any] = {"file_name": file_name} if file_name is not None else {}
    return {
        **row,
        "id": record.id,
        "created": record.created,
        "model_id": record.model_id,
        "revision": record.revision,
        "weights_sha256": record.weights_sha256,
        "task": record.task,
        "prediction": record.prediction.get("decision"),
        "answer": answer.get("text"),
        "label": answer.get("label"),
        "labels": answer.get("labels"),
        "values": answer.get("values"),
        "units": answer.get("units"),
        "image_sha256": record.image_sha256,
        "consent": record.consent,
    }


def export(
    store: CorrectionStore,
    out: str | os.PathLike[str],
    *,
    model_id: str | None = None,
    pending_only: bool = False,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the store's corrections (those with an image) to ``out`` as an imagefolder data set.

    Reads one snapshot of the store while visitors go on writing; the folder appears complete or not at all (it is
    written beside ``out`` and renamed into place).

    Args:
        store: the corrections.
        out: a missing or empty folder.
        model_id: only this model's corrections.
        pending_only: only corrections no recorded fine-tune has used yet.
        progress: called with (fraction, message) as records are written.

    Raises:
        CorrectionError: ``out`` holds files, or there is nothing to export.
    """
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CorrectionError(f"{out} is not empty; export into a missing or empty folder")
    total = store.count(pending_only=pending_only, model_id=model_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        summary = _write(store.records(model_id=model_id, pending_only=pending_only), work, total, progress)
        if not summary.ids:
            raise CorrectionError(
                f"no correction with an image to export ({summary.without_image} without one"
                f"{f' for model {model_id}' if model_id else ''}); visitors must tick the consent box for images"
            )
        if out.exists():
            out.rmdir()
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportSummary(out, summary.ids, summary.without_image, summary.models)


def _write(records: Iterable[Record], folder: Path, total: int, progress: Progress | None) -> ExportSummary:
    ids: list[str] = []
    without, models = 0, dict[str, int]()
    with open(folder / METADATA_NAME, "w", encoding="utf-8") as meta:
        for n, record in enumerate(records, start=1):
            if record.image is None:
                without += 1
                continue
            name = f"{record.id}.{record.image_ext or 'png'}"
            (folder / name).write_bytes(record.image)
            meta.write(json.dumps(metadata_row(record, name)) + "\n")
            ids.append(record.id)
            models[record.model_id] = models.get(record.model_id, 0) + 1
            if progress is not None and (n % 64 == 0 or n == total):
                progress(min(n / max(total, 1), 1.0), f"{n}/{total} corrections")
        meta.flush()
        os.fsync(meta.fileno())
    return ExportSummary(folder, tuple(ids), without, models)

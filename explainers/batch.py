"""Many photos in one request: uploads and zips -> a bounded list of images; their maps, predictions and scorecards
-> one zip (maps as .npy and PNG, receipts, predictions.csv) and the CSV beside it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from .errors import OptionError
from .pipeline import Scored

MAX_IMAGES = int(os.environ.get("XAI_BATCH_MAX_IMAGES", "32"))
MAX_BYTES = int(os.environ.get("XAI_BATCH_MAX_MB", "100")) << 20  # all images together, zip members as inflated
COLUMNS = (
    "image",
    "sha256",
    "decision",
    "top",
    "top_score",
    "method",
    "target",
    "direction",
    "badge",
    "reason",
    "gain",
    "randomisation",
    "map_seconds",
    "scorecard_seconds",
    "map",
    "error",
)
_SKIPPED = ("__MACOSX/", "._", ".DS_Store")  # what zip tools add beside the photos


@dataclass(frozen=True)
class Item:
    """One photo of a batch: a name unique in the batch (safe as a file name) and its bytes."""

    name: str
    data: bytes


def collect(paths: Sequence[str | os.PathLike[str]]) -> list[Item]:
    """The photos in some uploads: image files as they are, and the files inside .zip archives.

    Bounds are checked before anything is read or inflated (a zip's member sizes come from its directory, and a
    member that inflates past its declared size is refused), so a zip bomb costs nothing.

    Raises:
        OptionError: no photos, more than MAX_IMAGES, more than MAX_BYTES in all, or a zip that cannot be read.
    """
    found: list[tuple[str, Any]] = []  # (name, path or (zip path, member))
    total = 0
    for path in paths:
        path = Path(path)
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.infolist() if not m.is_dir() and not _skipped(m.filename)]
            except (zipfile.BadZipFile, OSError) as exc:
                raise OptionError(f"{path.name} is not a readable zip archive ({exc}); zip the photos again") from exc
            for member in members:
                found.append((PurePosixPath(member.filename).name, (path, member)))
                total += member.file_size
        else:
            found.append((path.name, path))
            total += path.stat().st_size
        _check_bounds(len(found), total)
    if not found:
        raise OptionError("no photos were given: upload several image files or a .zip of them")
    names = _unique([name for name, _ in found])
    return [Item(name, _read(where)) for name, (_, where) in zip(names, found, strict=True)]


def _check_bounds(count: int, total: int) -> None:
    if count > MAX_IMAGES:
        raise OptionError(
            f"too many photos: at least {count}, at most {MAX_IMAGES} per batch; split them into several batches"
        )
    if total > MAX_BYTES:
        raise OptionError(
            f"the photos add up to more than {total / 2**20:.0f} MB, at most {MAX_BYTES / 2**20:.0f} MB per batch; "
            "split them into several batches or make them smaller"
        )


def _skipped(name: str) -> bool:
    return name.startswith(_SKIPPED[0]) or PurePosixPath(name).name.startswith(_SKIPPED[1:])


def _read(where: Any) -> bytes:
    if isinstance(where, Path):
        return where.read_bytes()
    path, member = where
    with zipfile.ZipFile(path) as archive, archive.open(member) as fh:
        data = fh.read(member.file_size + 1)
    if len(data) > member.file_size:
        raise OptionError(f"{member.filename} in {path.name} inflates past its declared size; the zip is refused")
    return bytes(data)


def _unique(names: list[str]) -> list[str]:
    """File-name-safe names, a repeated one prefixed with its count ("2-cat.jpg")."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "image"
        seen[safe] = seen.get(safe, 0) + 1
        out.append(safe if seen[safe] == 1 else f"{seen[safe]}-{safe}")
    return out


class Archive:
    """A batch's zip, written as each photo is done, and the CSV of every row.

    In the zip: ``maps/<image>.<method>.npy`` (raw float32 map), ``maps/<image>.<method>.png`` (the overlay),
    ``receipts/<image>.<method>.json``, and ``predictions.csv`` (one row per photo and method; a photo that could not
    be read has one row with its error). Use as a context manager; ``close`` returns the zip and CSV paths.
    """

    def __init__(self, folder: Path, stem: str) -> None:
        self.zip_path, self.csv_path = folder / f"{stem}.zip", folder / f"{stem}.csv"
        self._zip = zipfile.ZipFile(self.zip_path, "w", compression=zipfile.ZIP_DEFLATED)
        self.rows: list[dict[str, Any]] = []

    def add(self, item: Item, scored: Sequence[Scored], pictures: Sequence[np.ndarray]) -> None:
        """One photo's maps (with their overlays) and scorecards, and the prediction their receipts hold."""
        prediction = scored[0].receipt.get("prediction") or {}
        top = (prediction.get("top") or prediction.get("values") or [{}])[0]  # multiclass; regression: first output
        for result, picture in zip(scored, pictures, strict=True):
            expl, card = result.explanation, result.scorecard
            stem = f"maps/{item.name}.{expl.method}"
            buffer = io.BytesIO()
            np.save(buffer, expl.heatmap.astype(np.float32))
            self._zip.writestr(f"{stem}.npy", buffer.getvalue())
            buffer = io.BytesIO()
            Image.fromarray(picture).save(buffer, format="PNG")
            self._zip.writestr(f"{stem}.png", buffer.getvalue(), compress_type=zipfile.ZIP_STORED)
            receipt = json.dumps(result.receipt, indent=2, default=str)
            self._zip.writestr(f"receipts/{item.name}.{expl.method}.json", receipt)
            self.rows.append(
                {
                    "image": item.name,
                    "sha256": result.receipt.get("image", {}).get("sha256", ""),
                    "decision": prediction.get("decision", ""),
                    "top": top.get("name", ""),
                    "top_score": top.get("probability", top.get("value", "")),
                    "method": expl.method,
                    "target": expl.target.name,
                    "direction": expl.target.direction,
                    "badge": card.badge,
                    "reason": card.reason,
                    "gain": None if card.curves is None else card.curves.gain,
                    "randomisation": card.randomisation,
                    "map_seconds": expl.timings.get("total"),
                    "scorecard_seconds": card.seconds,
                    "map": f"{stem}.npy",
                    "error": "",
                }
            )

    def fail(self, item: Item, message: str) -> None:
        """A photo that could not be explained: one row with the message."""
        self.rows.append({"image": item.name, "error": message})

    def close(self) -> tuple[Path, Path]:
        """Write predictions.csv into the zip and beside it; the zip's and the CSV's paths."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        self._zip.writestr("predictions.csv", buffer.getvalue())
        self._zip.close()
        self.csv_path.write_text(buffer.getvalue(), encoding="utf-8")
        return self.zip_path, self.csv_path

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._zip.close()  # after close() this does nothing; after an error it leaves a valid, partial zip

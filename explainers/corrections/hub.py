"""The Hub mirror: every stored correction also lands in a folder that huggingface_hub's CommitScheduler pushes to a
(private) dataset repo every few minutes, so a Space without persistent storage keeps them.

Layout in the repo, one sub-folder per app start so that restarts never rewrite each other's files:

    records/<session>/metadata.jsonl + <id>.<ext>   corrections with an image (an imagefolder data set)
    fingerprints/<session>.jsonl                    corrections without consent: the image's sha256 only
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from huggingface_hub import CommitScheduler, HfApi

from .imagefolder import METADATA_NAME, metadata_row
from .store import Record, new_id, now


class HubMirror:
    """Appends records to the pushed folder under the scheduler's lock (so a push never reads half a line)."""

    def __init__(
        self,
        repo_id: str,
        folder: str | os.PathLike[str],
        *,
        every: float = 5.0,
        private: bool = True,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Start pushing ``folder`` to the dataset repo ``repo_id`` (created if missing) every ``every`` minutes.

        The token and endpoint default to huggingface_hub's (HF_TOKEN or the cached login; HF_ENDPOINT).

        Raises:
            huggingface_hub.errors.HfHubHTTPError: the repo cannot be created or reached (no token, no rights).
        """
        self.folder = Path(folder)
        self.session = f"{now()[:19].replace(':', '').replace('-', '')}-{new_id()[:8]}"
        self.scheduler = CommitScheduler(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=self.folder,
            every=every,
            private=private,
            hf_api=HfApi(endpoint=endpoint, token=token),
        )
        self.repo_id = self.scheduler.repo_id

    def add(self, record: Record) -> None:
        """Write one record (and its image, if kept) into the pushed folder."""
        if record.image is not None:
            where = self.folder / "records" / self.session
            name = f"{record.id}.{record.image_ext or 'png'}"
            with self.scheduler.lock:
                where.mkdir(parents=True, exist_ok=True)
                (where / name).write_bytes(record.image)
                _append(where / METADATA_NAME, metadata_row(record, name))
        else:
            with self.scheduler.lock:
                (self.folder / "fingerprints").mkdir(parents=True, exist_ok=True)
                _append(self.folder / "fingerprints" / f"{self.session}.jsonl", metadata_row(record))

    def push(self) -> Future[Any]:
        """Push now instead of at the next tick; the future resolves when the commit is made (or nothing changed)."""
        return self.scheduler.trigger()

    def stop(self) -> None:
        """Push what is left, then stop the scheduler."""
        self.push().result()
        self.scheduler.stop()


def _append(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")

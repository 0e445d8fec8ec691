"""Corrections: visitors state the right answer in the model's own terms; the owner exports them and fine-tunes.

Light like the package root: the names below load their module on first use (PEP 562).

    intake = open_intake()                                   # the store in XAI_DATA_DIR (+ Hub mirror if set)
    record = intake.submit(model, upload, "Shirt", consent=True, visitor=session)
    export(intake.store, "corrections/")                     # images + metadata.jsonl, for datasets' imagefolder
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .answers import Answer, answer_from_row, hint, parse_answer
    from .hub import HubMirror
    from .imagefolder import ExportSummary, export, metadata_row
    from .intake import Intake, data_dir, kept_image, make_record, open_intake
    from .limits import RateLimiter
    from .store import CorrectionStore, Record

# public name -> module that defines it
_LAZY = {
    **dict.fromkeys(("Answer", "answer_from_row", "hint", "parse_answer"), "answers"),
    **dict.fromkeys(("ExportSummary", "export", "metadata_row"), "imagefolder"),
    "HubMirror": "hub",
    **dict.fromkeys(("Intake", "data_dir", "kept_image", "make_record", "open_intake"), "intake"),
    "RateLimiter": "limits",
    **dict.fromkeys(("CorrectionStore", "Record"), "store"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Answer",
    "CorrectionStore",
    "ExportSummary",
    "HubMirror",
    "Intake",
    "RateLimiter",
    "Record",
    "answer_from_row",
    "data_dir",
    "export",
    "hint",
    "kept_image",
    "make_record",
    "metadata_row",
    "open_intake",
    "parse_answer",
]

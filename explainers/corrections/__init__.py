"""Corrections: visitors state the right answer in the model's own terms; the owner exports them and fine-tunes.

intake = open_intake()                                   # the store in XAI_DATA_DIR (+ Hub mirror if set)
record = intake.submit(model, upload, "Shirt", consent=True, visitor=session)
export(intake.store, "corrections/")                     # images + metadata.jsonl, for datasets' imagefolder
"""

from .answers import Answer, answer_from_row, hint, parse_answer
from .hub import HubMirror
from .imagefolder import ExportSummary, export, metadata_row
from .intake import Intake, data_dir, kept_image, make_record, open_intake
from .limits import RateLimiter
from .store import CorrectionStore, Record

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

"""Similar cases: a model's reference gallery (embeddings, labels, thumbnails) and its k nearest references to an image.

Light like the package root: ``explainers.similar.sentence`` (used by trust.report) loads without torch or faiss; the
names below load their module on first use (PEP 562).

    gallery = load_gallery("my-model/gallery", model)          # once per (model, gallery), verified
    prepared, prediction = prepare(model, upload)
    cases = similar(model, gallery, prepared, prediction, k=8)  # cases.to_dict() for the API, cases.sentence
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import BuildSummary, build_gallery, console_progress, embed
    from .index import IndexChoice, choose_index
    from .search import LabelCases, Neighbour, SimilarCases, ValueCases, similar, similar_to_embedding
    from .sentence import report_sentence
    from .store import Gallery, find_gallery, load_gallery

# public name -> module that defines it
_LAZY = {
    **dict.fromkeys(("BuildSummary", "build_gallery", "console_progress", "embed"), "build"),
    **dict.fromkeys(("IndexChoice", "choose_index"), "index"),
    **dict.fromkeys(
        ("LabelCases", "Neighbour", "SimilarCases", "ValueCases", "similar", "similar_to_embedding"), "search"
    ),
    "report_sentence": "sentence",
    **dict.fromkeys(("Gallery", "find_gallery", "load_gallery"), "store"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BuildSummary",
    "Gallery",
    "IndexChoice",
    "LabelCases",
    "Neighbour",
    "SimilarCases",
    "ValueCases",
    "build_gallery",
    "choose_index",
    "console_progress",
    "embed",
    "find_gallery",
    "load_gallery",
    "report_sentence",
    "similar",
    "similar_to_embedding",
]

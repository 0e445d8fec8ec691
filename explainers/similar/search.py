"""Similar cases: the k nearest references to an image, how far their labels agree with the prediction, and the
nearest unlike neighbour (the closest reference labelled otherwise; Keane & Kenny, 2019, on case-based explanation).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import GalleryError
from ..options import whole
from ..types import LoadedModel, Prediction, PreparedImage, TaskInfo
from .build import embed
from .index import search
from .labels import describe
from .sentence import report_sentence
from .store import Gallery

MAX_K = 64
CANDIDATES = 64  # multi-label: neighbours read before one filtered search per label still without an unlike one


@dataclass(frozen=True)
class Neighbour:
    """One reference near the query.

    Attributes:
        row: its row in the gallery.
        id: its id (e.g. its path in the source folder).
        label: its label in words ("Sneaker", "cat, dog", "calories 312 kcal").
        similarity: cosine similarity of its embedding to the query's, in [-1, 1].
        thumbnail_jpeg: its thumbnail as JPEG bytes.
    """

    row: int
    id: str
    label: str
    similarity: float
    thumbnail_jpeg: bytes = field(repr=False)

    @property
    def thumbnail(self) -> np.ndarray:
        """The thumbnail as uint8 (h, w, 3)."""
        with Image.open(io.BytesIO(self.thumbnail_jpeg)) as picture:
            return np.asarray(picture.convert("RGB"))

    def to_dict(self, *, thumbnail: bool = True) -> dict[str, Any]:
        """JSON-ready; the thumbnail as a data URI."""
        out: dict[str, Any] = {"id": self.id, "label": self.label, "similarity": round(self.similarity, 4)}
        if thumbnail:
            out["thumbnail"] = "data:image/jpeg;base64," + base64.b64encode(self.thumbnail_jpeg).decode("ascii")
        return out


@dataclass(frozen=True)
class LabelCases:
    """Multi-label: one label's agreement between the neighbours and the prediction."""

    name: str
    predicted: bool
    agreement: float
    nearest_unlike: Neighbour | None


@dataclass(frozen=True)
class ValueCases:
    """Regression: one output's predicted value against its neighbours' values."""

    name: str
    unit: str
    predicted: float
    mean: float
    median: float
    low: float
    high: float
    nearest: float


@dataclass(frozen=True)
class SimilarCases:
    """The similar cases of one image.

    Attributes:
        task: the model's task.
        prediction: the model's decision for the image.
        neighbours: the k nearest references, nearest first.
        agreement: multiclass: share of neighbours labelled as predicted; multi-label: share carrying exactly the
            predicted labels; regression: None.
        nearest_unlike: the closest reference labelled otherwise than predicted (another class; another label set),
            None when every reference agrees or for regression.
        votes: multiclass: (class, neighbours labelled so), most first.
        labels: multi-label: per label.
        values: regression: per output.
        gallery_sha256: the gallery's identity, for receipts.
        gallery_count: references in the gallery.
        index: how the gallery was searched.
        timings: seconds for "embed" and "search".
    """

    task: str
    prediction: str
    neighbours: tuple[Neighbour, ...]
    agreement: float | None
    nearest_unlike: Neighbour | None
    gallery_sha256: str
    gallery_count: int
    index: str
    votes: tuple[tuple[str, int], ...] = ()
    labels: tuple[LabelCases, ...] = ()
    values: tuple[ValueCases, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """How many neighbours."""
        return len(self.neighbours)

    def summary(self) -> dict[str, Any]:
        """JSON-ready, without thumbnails: what a receipt records and report_sentence reads."""
        return self._dict(thumbnails=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready for the API, thumbnails as data URIs."""
        return self._dict(thumbnails=True)

    @property
    def sentence(self) -> str:
        """One sentence for the report."""
        return report_sentence(self.summary())

    def _dict(self, *, thumbnails: bool) -> dict[str, Any]:
        def one(n: Neighbour | None) -> dict[str, Any] | None:
            return None if n is None else n.to_dict(thumbnail=thumbnails)

        out: dict[str, Any] = {
            "gallery": {"sha256": self.gallery_sha256, "count": self.gallery_count, "index": self.index},
            "task": self.task,
            "k": self.k,
            "prediction": self.prediction,
            "neighbours": [one(n) for n in self.neighbours],
            "agreement": None if self.agreement is None else round(self.agreement, 4),
            "nearest_unlike": one(self.nearest_unlike),
        }
        if self.task == "multiclass":
            out["votes"] = [{"label": name, "count": count} for name, count in self.votes]
        if self.task == "multilabel":
            out["labels"] = [
                {
                    "name": c.name,
                    "predicted": c.predicted,
                    "agreement": round(c.agreement, 4),
                    "nearest_unlike": one(c.nearest_unlike),
                }
                for c in self.labels
            ]
        if self.task == "regression":
            out["values"] = [{k: v for k, v in vars(c).items()} for c in self.values]
        return out


def similar(
    model: LoadedModel,
    gallery: Gallery,
    image: torch.Tensor | PreparedImage,
    prediction: Prediction,
    *,
    k: int = 8,
) -> SimilarCases:
    """The similar cases of an image: its k nearest references and how their labels bear on the prediction.

    Args:
        model: the model (the gallery must have been built with its weights).
        gallery: from load_gallery(folder, model).
        image: the normalised image (1, 3, H, W), or the PreparedImage holding it.
        prediction: the model's prediction of the image (predict / prepare).
        k: how many neighbours, 1 to MAX_K (fewer if the gallery is smaller).

    Raises:
        GalleryError: the gallery was built for other weights.
        OptionError: k out of range.
    """
    if gallery.weights_sha256 != model.weights_sha256:
        raise GalleryError(
            f"this gallery was built for weights sha256 {gallery.weights_sha256[:12]}..., not {model.model_id}'s "
            f"({model.weights_sha256[:12]}...); load the model's own gallery"
        )
    start = time.perf_counter()
    query = embed(model, image.image if isinstance(image, PreparedImage) else image)[0]
    seconds = time.perf_counter() - start
    cases = similar_to_embedding(gallery, query, prediction, k=k)
    return dataclasses.replace(cases, timings={"embed": seconds, **cases.timings})


def similar_to_embedding(gallery: Gallery, query: np.ndarray, prediction: Prediction, *, k: int = 8) -> SimilarCases:
    """Like similar, for an embedding already computed (L2-normalised, (D,)): the search alone.

    Raises:
        GalleryError: the embedding's width or the prediction's task does not fit the gallery.
        OptionError: k out of range.
    """
    k = whole(k, "k", low=1, high=MAX_K)
    query = np.asarray(query, dtype=np.float32).reshape(-1)
    if query.shape[0] != gallery.dim:
        raise GalleryError(f"the query embedding has {query.shape[0]} dimensions, the gallery's have {gallery.dim}")
    if prediction.task != gallery.task or tuple(prediction.names) != gallery.names:
        raise GalleryError(f"the prediction is for a {prediction.task} task with other outputs than the gallery's")
    start = time.perf_counter()
    task = TaskInfo(gallery.task, gallery.names, units=prediction.units)
    width = k if gallery.task != "multilabel" else max(k, CANDIDATES)
    sims, rows = search(gallery.index, gallery.choice, query, width)

    def at(row: int, sim: float) -> Neighbour:
        return Neighbour(row, gallery.ids[row], describe(task, gallery.labels[row]), sim, gallery.thumbnail(row))

    def unlike(differs: np.ndarray, allowed: np.ndarray) -> Neighbour | None:
        """The first candidate that differs, else the nearest allowed reference in the whole gallery."""
        hits = np.flatnonzero(differs)
        if len(hits):
            return at(int(rows[hits[0]]), float(sims[hits[0]]))
        if not allowed.any():
            return None
        sim, row = search(gallery.index, gallery.choice, query, 1, allowed=allowed)
        return at(int(row[0]), float(sim[0])) if len(row) else None

    near = tuple(at(int(row), float(sim)) for row, sim in zip(rows[:k], sims[:k], strict=True))
    found = gallery.labels[rows]
    extra: dict[str, Any] = {}
    if gallery.task == "multiclass":
        predicted = int(np.argmax(prediction.scores))
        agreement: float | None = float(np.mean(found[: len(near)] == predicted))
        nearest_unlike = unlike(found != predicted, gallery.labels != predicted)
        extra["votes"] = tuple((gallery.names[c], n) for c, n in Counter(found[: len(near)].tolist()).most_common())
    elif gallery.task == "multilabel":
        wanted = np.zeros(len(gallery.names), dtype=bool)
        wanted[[gallery.names.index(name) for name, _ in prediction.top]] = True
        members = found.astype(bool)
        differs = (members != wanted).any(axis=1)
        agreement = float(np.mean(~differs[: len(near)]))
        nearest_unlike = unlike(differs, (gallery.labels.astype(bool) != wanted).any(axis=1))
        extra["labels"] = tuple(
            LabelCases(
                name,
                bool(wanted[j]),
                float(np.mean(members[: len(near), j] == wanted[j])),
                unlike(members[:, j] != wanted[j], gallery.labels[:, j].astype(bool) != wanted[j]),
            )
            for j, name in enumerate(gallery.names)
        )
    else:
        agreement, nearest_unlike = None, None
        units = prediction.units or ("",) * len(gallery.names)
        values = found[: len(near)].astype(np.float64)
        extra["values"] = tuple(
            ValueCases(
                name,
                units[j],
                float(prediction.scores[j]),
                float(values[:, j].mean()),
                float(np.median(values[:, j])),
                float(values[:, j].min()),
                float(values[:, j].max()),
                float(values[0, j]),
            )
            for j, name in enumerate(gallery.names)
        )
    return SimilarCases(
        task=gallery.task,
        prediction=prediction.decision,
        neighbours=near,
        agreement=agreement,
        nearest_unlike=nearest_unlike,
        gallery_sha256=gallery.sha256,
        gallery_count=gallery.count,
        index=gallery.choice.words,
        timings={"search": time.perf_counter() - start},
        **extra,
    )

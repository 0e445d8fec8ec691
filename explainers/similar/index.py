"""The faiss index of a gallery, chosen by size: exact float32 scan, exact float16 scan, or IVF (Jégou et al., 2011).

Embeddings are L2-normalised, so inner product is cosine similarity. A one-query scan is memory-bound: at 60,000
references of 1,280 dimensions the float32 matrix is 307 MB and one thread scans it in ~22 ms; stored as float16 it
is half the bytes and half the time, and similarities move by at most ~1e-3. Above FLAT_LIMIT references even that
is too slow, and an inverted file visits only the nprobe lists nearest the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import faiss
import numpy as np

IndexKind = Literal["flat", "flat-fp16", "ivf"]

# Exact float32 scan while the matrix fits in this many bytes (~4 ms for one query on one thread at ~16 GB/s).
FLOAT32_BYTES = 64 * 2**20
# Exhaustive scan up to here (the "~1M"); an inverted file above.
FLAT_LIMIT = 1_000_000
# faiss's k-means warns below 39 training points per centroid; 64 per centroid keeps training short.
TRAIN_PER_LIST = 64


@dataclass(frozen=True)
class IndexChoice:
    """Which index a gallery gets.

    Attributes:
        kind: "flat" (exact, float32), "flat-fp16" (exhaustive, float16 storage) or "ivf" (inverted file, float16).
        nlist: IVF only: number of lists (about sqrt of the count).
        nprobe: IVF only: lists visited per query.
    """

    kind: IndexKind
    nlist: int = 0
    nprobe: int = 0

    @property
    def words(self) -> str:
        """How the index searches, for reports and benchmarks."""
        if self.kind == "flat":
            return "exact inner product (float32)"
        if self.kind == "flat-fp16":
            return "exhaustive inner product (float16 storage)"
        return f"inverted file ({self.nlist} lists, {self.nprobe} visited per query, float16 storage)"


def choose_index(
    count: int, dim: int, *, flat_limit: int | None = None, float32_bytes: int | None = None
) -> IndexChoice:
    """The index for a gallery of ``count`` embeddings of ``dim`` dimensions.

    Args:
        count: number of references.
        dim: embedding width.
        flat_limit: above this many references, an inverted file (default FLAT_LIMIT).
        float32_bytes: up to this matrix size, an exact float32 scan; above it, float16 storage (default
            FLOAT32_BYTES).
    """
    flat_limit = FLAT_LIMIT if flat_limit is None else flat_limit
    float32_bytes = FLOAT32_BYTES if float32_bytes is None else float32_bytes
    if count > flat_limit:
        nlist = max(1, min(round(math.sqrt(count)), count // TRAIN_PER_LIST))
        return IndexChoice("ivf", nlist=nlist, nprobe=min(nlist, max(8, nlist // 16)))
    if count * dim * 4 <= float32_bytes:
        return IndexChoice("flat")
    return IndexChoice("flat-fp16")


def build_index(embeddings: np.ndarray, choice: IndexChoice, *, seed: int = 0) -> Any:
    """A faiss index holding every row of ``embeddings`` (float32, L2-normalised), row i under id i.

    Args:
        embeddings: (count, dim) float32.
        choice: from choose_index.
        seed: IVF only: which rows train the lists and how k-means starts.
    """
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    count, dim = vectors.shape
    index: Any
    if choice.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif choice.kind == "flat-fp16":
        index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    else:
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, choice.nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        index.by_residual = False  # store the vectors themselves, so similarities match the flat indexes
        index.cp.seed = seed
        sample = np.random.default_rng(seed).permutation(count)[: choice.nlist * TRAIN_PER_LIST]
        index.train(vectors[np.sort(sample)])  # faiss's wrapper keeps the quantizer alive with the index
    if not index.is_trained:
        index.train(vectors)
    index.add(vectors)
    return index


def search(
    index: Any, choice: IndexChoice, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar references to one query: (similarities, row ids), best first, without faiss's -1 padding.

    Args:
        index: from build_index.
        choice: the index's IndexChoice.
        query: (dim,) or (1, dim) float32, L2-normalised.
        k: how many.
        allowed: bool (count,): only these rows may be returned (faiss IDSelectorBitmap); an IVF search that finds
            none in its nprobe lists is repeated over every list.
    """
    vector = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
    k = max(1, min(int(k), int(index.ntotal)))
    selector, bits = None, None
    if allowed is not None:
        bits = np.packbits(allowed.astype(bool), bitorder="little")
        # The selector reads ``bits`` through a raw pointer: the array stays referenced here until the search returns.
        selector = faiss.IDSelectorBitmap(allowed.shape[0], faiss.swig_ptr(bits))
    sims, ids = np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64)
    for nprobe in (choice.nprobe, choice.nlist) if choice.kind == "ivf" else (0,):
        params: Any = faiss.SearchParametersIVF() if choice.kind == "ivf" else faiss.SearchParameters()
        if choice.kind == "ivf":
            params.nprobe = nprobe
        if selector is not None:
            params.sel = selector
        sims, ids = index.search(vector, k, params=params)
        if (ids[0] >= 0).any() or selector is None:
            break
    del bits
    keep = ids[0] >= 0
    return sims[0][keep].astype(np.float32), ids[0][keep].astype(np.int64)


def index_bytes(index: Any) -> int:
    """Bytes the index holds (its serialised size: vectors, codes, lists and centroids)."""
    return int(faiss.serialize_index(index).nbytes)

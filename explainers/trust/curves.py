"""Scorecard helpers: deletion/insertion curves (Petsiuk et al., 2018, "RISE"), rank correlation, random weights."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..display import gaussian
from ..methods.attention import switch_lock
from ..methods.baselines import baseline, batch_size, check_image, probe
from ..targets import raw_score
from ..types import LoadedModel, Target
from . import reference

# Below this share of the image's and the reference's scores, their difference is noise and curves normalised by it
# would be too.
MIN_SPAN = 1e-3
# The area the random-order curve removes (deletion) or restores (insertion), below which "N x faster than random"
# is not a meaningful ratio.
MIN_RANDOM_DROP = 0.05
# The blurred-copy control: the map's cells blurred with a Gaussian of this many cells (2 of 16: 28 px at 224), so it
# keeps where the evidence is roughly and loses the detail. A map that scores no better than its blurred copy wins, if
# it wins, by being blurry: its detail adds nothing the model uses.
BLUR_CELLS = 2.0


@dataclass(frozen=True)
class Curves:
    """Signed target output while cells are removed (deletion) or restored (insertion), in map and random order.

    Values are normalised as (f(x_t) - f(reference)) / (f(image) - f(reference)): 1 at the image, 0 at the reference,
    so areas compare across images and models. An area under a curve (AUC) is over fractions in [0, 1].

    Attributes:
        fractions: share of cells removed / restored at each point, 0..1.
        deletion: cells removed in the map's order, most positive first, to the reference image.
        insertion: cells restored from the reference in the same order.
        random_deletion: the same with a seeded random order of cells.
        random_insertion: the same.
        blurred_deletion: the same in the order of a blurred copy of the map (BLUR_CELLS); empty when not measured.
        blurred_insertion: the same.
        image_score: the signed target output on the image (raw units).
        reference_score: the same on the reference image.
        grid: cells per side.
    """

    fractions: tuple[float, ...]
    deletion: tuple[float, ...]
    insertion: tuple[float, ...]
    random_deletion: tuple[float, ...]
    random_insertion: tuple[float, ...]
    image_score: float
    reference_score: float
    grid: int
    blurred_deletion: tuple[float, ...] = ()
    blurred_insertion: tuple[float, ...] = ()

    def _auc(self, values: tuple[float, ...]) -> float:
        # Clipped to [0, 1]: overshooting past the reference or the image counts as reaching it, so one erratic point
        # of a non-monotonic model cannot outweigh the rest of the curve.
        x, y = np.asarray(self.fractions), np.clip(values, 0.0, 1.0)
        return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve (lower: the map finds what the model uses)."""
        return self._auc(self.deletion)

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve (higher: the map finds what the model uses)."""
        return self._auc(self.insertion)

    @property
    def random_deletion_auc(self) -> float:
        """Area under the random order's deletion curve."""
        return self._auc(self.random_deletion)

    @property
    def random_insertion_auc(self) -> float:
        """Area under the random order's insertion curve."""
        return self._auc(self.random_insertion)

    @property
    def gain(self) -> float:
        """Insertion minus deletion AUC of the map: how much better than random order it ranks what the model uses.

        Random order scores exactly 0 on average: restoring cells in one order makes the same images as removing them
        in the reverse order, and a reversed random order is as likely as the order itself. So the map is compared
        with that exact expectation rather than with one noisy draw (``random_gain`` shows one draw's value).
        """
        return self.insertion_auc - self.deletion_auc

    @property
    def random_gain(self) -> float:
        """The same for the drawn random order: one sample of a quantity whose mean is 0."""
        return self.random_insertion_auc - self.random_deletion_auc

    @property
    def blurred_gain(self) -> float | None:
        """The gain of the map's blurred copy (the same cells, blurred by BLUR_CELLS); None when not measured."""
        if not self.blurred_deletion:
            return None
        return self._auc(self.blurred_insertion) - self._auc(self.blurred_deletion)

    @property
    def least_relevant_first_auc(self) -> float:
        """Area under deletion in the reverse order (least relevant cells first, LeRF; higher is better).

        The images of deleting the n least relevant cells are those of inserting the N - n most relevant, so this is
        the insertion AUC read backwards and ``gain`` is Blücher et al.'s (2024) symmetric relevance gain,
        AUC(LeRF) - AUC(MoRF), with no extra forward pass.
        """
        return self.insertion_auc

    @property
    def deletion_speedup(self) -> float | None:
        """Area above the map's deletion curve over the area above the random one (None when random drops little)."""
        random_drop = 1.0 - self.random_deletion_auc
        return (1.0 - self.deletion_auc) / random_drop if random_drop >= MIN_RANDOM_DROP else None

    @property
    def insertion_speedup(self) -> float | None:
        """Area under the map's insertion curve over the random one's (None when random restores little)."""
        random_area = self.random_insertion_auc
        return self.insertion_auc / random_area if random_area >= MIN_RANDOM_DROP else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view with the areas, gains and speed-ups computed."""
        out: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}
        for name in (
            "deletion_auc",
            "insertion_auc",
            "random_deletion_auc",
            "random_insertion_auc",
            "gain",
            "random_gain",
            "blurred_gain",
            "deletion_speedup",
            "insertion_speedup",
        ):
            out[name] = getattr(self, name)
        return out


def cells(h: int, w: int, grid: int) -> np.ndarray:
    """(h, w) int map of the cell each pixel belongs to, on a grid x grid split (fewer cells for tiny inputs)."""
    side = max(1, min(grid, h, w))
    return (np.arange(h)[:, None] * side // h) * side + np.arange(w)[None, :] * side // w


def pool(heatmap: np.ndarray, grid: int) -> np.ndarray:
    """Mean of the map over each cell of ``cells``: maps of any method at the resolution the curves work at."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    h, w = heatmap.shape
    ids = cells(h, w, grid).ravel()
    n = int(ids.max()) + 1
    return np.bincount(ids, weights=heatmap.ravel(), minlength=n) / np.bincount(ids, minlength=n)


def density(heatmap: np.ndarray, grid: int) -> np.ndarray:
    """The map as ``pool`` sees it, spread back to its size and scaled so 1 = evidence spread evenly.

    One unit for maps whose methods speak different units (logit drop per window, per-pixel attribution,
    channel-weighted activation) and resolutions, so they can share one colour scale.
    """
    h, w = np.shape(heatmap)
    side = max(1, min(grid, h, w))
    pooled = Image.fromarray(pool(heatmap, grid).reshape(side, side).astype(np.float32))
    smooth = np.asarray(pooled.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    mass = float(np.abs(smooth).mean())
    return smooth / mass if mass > 0 else smooth


def blurred_cells(pooled: np.ndarray, sigma: float = BLUR_CELLS) -> np.ndarray:
    """A pooled map (side * side cells, row-major) blurred with a Gaussian of ``sigma`` cells (reflected borders)."""
    side = round(np.sqrt(pooled.size))
    return gaussian(np.reshape(pooled, (side, side)), sigma).ravel()


def order_curves(
    model: LoadedModel,
    image: torch.Tensor,
    heatmaps: Sequence[np.ndarray],
    targets: Sequence[Target],
    *,
    steps: int,
    grid: int,
    baselines: str,
    seed: int,
) -> list[Curves | None]:
    """Curves for each (heatmap, target); the random order's images are evaluated once for all of them.

    All perturbed images go through the model in batches under no_grad; None where the reference does not score
    clearly below the image (the curves would divide noise by noise).
    """
    check_image(image)
    h, w = int(image.shape[2]), int(image.shape[3])
    ids = cells(h, w, grid)
    n_cells = int(ids.max()) + 1
    rng = np.random.default_rng(seed)
    random_order, tiebreak = rng.permutation(n_cells), rng.permutation(n_cells)
    # Most positive first. Ties (flat or masked maps) go in the order of the map's blurred copy, then a seeded random
    # order: a flat region is removed from its middle outwards, as its blurred copy would, so that the blurred-copy
    # control compares what the map says, not how the scorecard breaks its ties (contiguous removal moves a CNN more
    # than scattered removal). Each map's blurred copy follows it.
    orders = []
    for heatmap in heatmaps:
        cellmap = pool(heatmap, grid)
        smooth = blurred_cells(cellmap)
        orders += [np.lexsort((tiebreak, -smooth, -cellmap)), np.lexsort((tiebreak, -smooth))]
    ref = baseline(model, image, baselines, seed=seed)
    sizes = [round(i * n_cells / steps) for i in range(1, steps)]
    cells_t = torch.as_tensor(ids, device=image.device)

    def shared() -> tuple[Any, list[np.ndarray]]:  # the image, the reference image and the random order's curves
        measured = probe(model, image)
        jobs: list[tuple[np.ndarray | None, int, bool]] = [(None, 0, True)]  # the reference image itself
        jobs += [(random_order, n, deleting) for deleting in (True, False) for n in sizes]
        return measured, _evaluate(model, image, ref, cells_t, jobs, measured)

    # Map- and target-independent: computed once per (model, image, reference), then shared (trust.reference).
    measured, common = reference.shared_curves(
        model, image, shared, baselines=baselines, steps=steps, grid=grid, seed=seed
    )
    jobs: list[tuple[np.ndarray | None, int, bool]]
    jobs = [(order, n, deleting) for order in orders for deleting in (True, False) for n in sizes]
    scores = [common[0], *_evaluate(model, image, ref, cells_t, jobs, measured), *common[1:]]
    raw_image = measured.outputs[0].double().cpu().numpy()
    per_curve, random_first = len(sizes), 1 + 2 * len(sizes) * len(orders)
    out: list[Curves | None] = []
    for k, target in enumerate(targets):
        f_image = raw_score(target, raw_image) * target.sign
        f_ref = raw_score(target, scores[0]) * target.sign
        span = f_image - f_ref
        if span <= MIN_SPAN * max(1.0, abs(f_image), abs(f_ref)):
            out.append(None)
            continue
        signed = [(raw_score(target, s) * target.sign - f_ref) / span for s in scores]

        def curve(first: int, deleting: bool, signed: list[float] = signed) -> tuple[float, ...]:
            inner = signed[first : first + per_curve]
            return tuple([1.0, *inner, 0.0] if deleting else [0.0, *inner, 1.0])

        own, blurred = 1 + 4 * per_curve * k, 1 + 4 * per_curve * k + 2 * per_curve
        out.append(
            Curves(
                fractions=tuple(i / steps for i in range(steps + 1)),
                deletion=curve(own, True),
                insertion=curve(own + per_curve, False),
                random_deletion=curve(random_first, True),
                random_insertion=curve(random_first + per_curve, False),
                image_score=f_image,
                reference_score=f_ref,
                grid=int(np.sqrt(n_cells)),
                blurred_deletion=curve(blurred, True),
                blurred_insertion=curve(blurred + per_curve, False),
            )
        )
    return out


def _evaluate(
    model: LoadedModel,
    image: torch.Tensor,
    ref: torch.Tensor,
    cells: torch.Tensor,
    jobs: list[tuple[np.ndarray | None, int, bool]],
    measured: Any,
) -> list[np.ndarray]:
    """Raw outputs (K,) for each job: (order, cells taken from the front of it, deleting?)."""
    n_cells = int(cells.max()) + 1
    size = batch_size(model, measured, total=len(jobs))
    results: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, len(jobs), size):
            batch = []
            for order, n, deleting in jobs[start : start + size]:
                chosen = torch.zeros(n_cells, dtype=torch.bool, device=image.device)
                if order is not None:
                    chosen[torch.as_tensor(order[:n], device=image.device)] = True
                mask = chosen[cells] if order is not None else torch.ones_like(cells, dtype=torch.bool)
                batch.append(torch.where(mask, ref[0], image[0]) if deleting else torch.where(mask, image[0], ref[0]))
            outputs = model.model(torch.stack(batch)).double().cpu().numpy()
            results.extend(outputs)
    return results


def randomised_copy(model: LoadedModel, *, seed: int = 0) -> LoadedModel:
    """A deep copy whose last feature stage and head are re-initialised (Gaussian, each tensor's own mean and std).

    The last stage is timm's ``feature_info[-1]["module"]``; it and every parameter registered after it (final conv,
    norm, classifier) are redrawn. Without feature_info, the classifier's parameters are.
    """
    with switch_lock:  # never copy a model while an attention call has its flags switched and its hooks on
        net = copy.deepcopy(model.model)
    params = list(net.named_parameters())
    info = getattr(net, "feature_info", None) or []
    last = info[-1].get("module", "") if info else ""
    first = next((i for i, (n, _) in enumerate(params) if last and n.startswith(last + ".")), None)
    if first is None:
        get_classifier = getattr(net, "get_classifier", None)
        head = get_classifier() if callable(get_classifier) else None
        ids = {id(p) for p in head.parameters()} if isinstance(head, torch.nn.Module) else set()
        chosen = [p for _, p in params if id(p) in ids] or [p for _, p in params[-2:]]
    else:
        chosen = [p for _, p in params[first:]]
    # Mixed with a constant so that seed 0 never replays the stream a model was itself initialised from.
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 2018]).generate_state(1)[0]))
    with torch.no_grad():
        for p in chosen:
            src = p.detach().float().cpu()
            std = float(src.std()) if src.numel() > 1 else 0.0
            fresh = torch.randn(src.shape, generator=g) * (std or 0.02) + (src.mean() if src.dim() < 2 else 0.0)
            p.copy_(fresh.to(p.device, p.dtype))
    return dataclasses.replace(model, model=net, weights_sha256=f"randomised:{seed}:{model.weights_sha256}")


def native(heatmap: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """Undo a bilinear upsampling (align_corners=False, as Grad-CAM's) from ``grid`` cells: the map the method computed.

    Bilinear upsampling is a separable linear map with full column rank, so least squares recovers the cells exactly
    (to float error); comparisons on the cells are not inflated by the interpolation ramps two maps share.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)

    def upsampling(cells: int, size: int) -> np.ndarray:  # (size, cells)
        eye = torch.eye(int(cells), dtype=torch.float64)[None]
        return F.interpolate(eye, size=size, mode="linear", align_corners=False)[0].T.numpy()

    rows, cols = upsampling(grid[0], heatmap.shape[0]), upsampling(grid[1], heatmap.shape[1])
    return np.linalg.pinv(rows) @ heatmap @ np.linalg.pinv(cols).T


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same shape (ties share their mean rank); 0 for a constant map."""
    ra, rb = _ranks(np.asarray(a)), _ranks(np.asarray(b))
    if ra.size != rb.size:
        raise ValueError(f"maps differ in size: {np.shape(a)} vs {np.shape(b)}")
    if ra.size < 2 or ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values.ravel(), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse.ravel()]

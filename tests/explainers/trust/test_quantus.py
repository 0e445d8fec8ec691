"""The scorecard's deletion and insertion curves against Quantus' RegionPerturbation on the same map and settings.

Quantus (0.6.0, a dev requirement) removes one square region at a time in the order of the map's region sums and
records f(image) - f(perturbed) after each; ours removes the cells of a 16 x 16 grid in chunks of 16 and normalises
by the span between the image and the reference. With regions the size of our cells (6 px on a 96 px input), the
blur reference put in through Quantus' ``perturb_func`` and ``softmax=False``, every point of our curve is one of
Quantus' points, rescaled. The model is timm's test_efficientnet with random weights (every cell moves its output)
and the map integrated gradients' (no two cells tie, so both orders agree without a tie-break rule).

Insertion has no Quantus counterpart, but inserting the n most relevant cells into the reference makes the image of
deleting the 256 - n least relevant, which is Quantus' ``order="lerf"``. Quantus' random order draws from numpy's
global generator, so the random curves are not compared.

Tolerance 1e-4 of the span: both run the same float32 model on the same images; only the batching differs (ours
batches, Quantus runs one image per region), which moves float32 logits by ~1e-6 of their size.
"""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from planted import make_loaded, random_images

from explainers.methods import integrated_gradients
from explainers.methods.baselines import baseline
from explainers.trust.curves import order_curves, pool
from explainers.types import TaskInfo

quantus = pytest.importorskip("quantus")

SIZE, GRID, STEPS = 96, 16, 16
CELL = SIZE // GRID


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    net = timm.create_model("test_efficientnet", num_classes=3)
    model = make_loaded(net, TaskInfo("multiclass", ("a", "b", "c")), input_size=SIZE, model_id="test_efficientnet")
    image = random_images(1, SIZE, seed=3)
    cam = integrated_gradients.explain(model, image, baselines="blur", n_steps=8)
    ref = baseline(model, image, "blur")
    curves = order_curves(model, image, [cam.heatmap], [cam.target], steps=STEPS, grid=GRID, baselines="blur", seed=0)
    return model, image, cam, ref, curves[0]


def _quantus(model, image, heatmap, ref, order: str, cam_target: int) -> np.ndarray:
    flat_ref = ref.numpy().reshape(1, -1)

    def to_reference(arr: np.ndarray, indices: np.ndarray, **_: object) -> np.ndarray:
        out = arr.copy()
        rows = np.arange(arr.shape[0])[:, None]
        out[rows, indices] = flat_ref[0, indices]
        return out

    metric = quantus.RegionPerturbation(
        patch_size=CELL,
        order=order,
        regions_evaluation=GRID * GRID,
        normalise=False,
        abs=False,
        perturb_func=to_reference,
        disable_warnings=True,
        display_progressbar=False,
    )
    scores = metric(
        model=model.model,
        x_batch=image.numpy(),
        y_batch=np.array([cam_target]),
        a_batch=np.asarray(heatmap, np.float32)[None, None],
        softmax=False,
        channel_first=True,
        device="cpu",
    )
    return np.asarray(scores[0], dtype=np.float64)  # f(image) - f(after k regions), k = 1..256


def test_the_map_orders_cells_as_quantus_orders_regions(case):
    _, _, cam, _, _ = case
    sums = np.asarray(cam.heatmap, np.float64).reshape(GRID, CELL, GRID, CELL).sum((1, 3)).ravel()
    pooled = pool(cam.heatmap, GRID)
    assert len(np.unique(pooled)) == GRID * GRID  # no ties
    assert np.array_equal(np.argsort(-pooled), np.argsort(-sums))


def test_deletion_curve_equals_quantus_region_perturbation_most_relevant_first(case):
    model, image, cam, ref, curves = case
    drops = _quantus(model, image, cam.heatmap, ref, "morf", cam.target.index)
    span = curves.image_score - curves.reference_score
    n = [round(i * GRID * GRID / STEPS) for i in range(1, STEPS)]
    theirs = [1.0 - drops[k - 1] / span for k in n]
    np.testing.assert_allclose(curves.deletion[1:-1], theirs, atol=1e-4)
    assert drops[-1] == pytest.approx(span, rel=1e-4)  # every region removed: the reference's score


def test_insertion_curve_equals_quantus_least_relevant_first_read_backwards(case):
    model, image, cam, ref, curves = case
    drops = _quantus(model, image, cam.heatmap, ref, "lerf", cam.target.index)
    span = curves.image_score - curves.reference_score
    n = [round(i * GRID * GRID / STEPS) for i in range(1, STEPS)]
    theirs = [1.0 - drops[GRID * GRID - k - 1] / span for k in n]  # n inserted = 256 - n least relevant deleted
    np.testing.assert_allclose(curves.insertion[1:-1], theirs, atol=1e-4)


def test_the_areas_follow_from_quantus_curves(case):
    model, image, cam, ref, curves = case
    span = curves.image_score - curves.reference_score
    n = [round(i * GRID * GRID / STEPS) for i in range(1, STEPS)]
    morf = np.clip(
        [1.0, *(1.0 - _quantus(model, image, cam.heatmap, ref, "morf", cam.target.index)[np.array(n) - 1] / span), 0.0],
        0,
        1,
    )
    x = np.linspace(0, 1, STEPS + 1)
    assert curves.deletion_auc == pytest.approx(float(np.trapezoid(morf, x)), abs=1e-4)

"""The scorecard's reuse across calls: the random-order reference and randomised copies are shared without changing a
number, and stopping the randomisation draws early never changes a verdict."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_app import PHOTOS

import explainers as xai
from explainers import pipeline, registry
from explainers.models.predict import prepare
from explainers.trust import reference
from explainers.trust import scorecard as quality
from explainers.trust.curves import order_curves

torch.set_num_threads(1)

# Cheap options: the verdict logic is the same at any size; the app's defaults run in bench/e2e.py.
CHEAP = {
    "gradcam": {},
    "occlusion": {"window": 56, "stride": 56, "mode": "dense"},
    "integrated_gradients": {"n_steps": 8},
}


@pytest.fixture(scope="module")
def loaded() -> xai.LoadedModel:
    return xai.load_model(None)


def test_shared_curves_are_computed_once_per_image_and_give_the_same_curves(loaded: xai.LoadedModel) -> None:
    prepared, prediction = prepare(loaded, str(PHOTOS[0]))
    maps = [pipeline.explain(loaded, prepared, prediction, m, options=o) for m, o in CHEAP.items()]
    memo = reference.memos(loaded)[0]
    memo.clear()
    options = {"steps": 4, "grid": 16, "baselines": "blur", "seed": 0}
    alone = [order_curves(loaded, prepared.image, [m.heatmap], [m.target], **options)[0] for m in maps]
    assert memo.stats()["entries"] == 1 and memo.stats()["hits"] >= 2  # one reference for three maps
    memo.clear()
    together = order_curves(loaded, prepared.image, [m.heatmap for m in maps], [m.target for m in maps], **options)
    for a, b in zip(alone, together, strict=True):
        assert a is not None and b is not None
        for field in ("deletion", "insertion", "random_deletion", "random_insertion"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-5, atol=1e-6)


def test_a_randomised_copy_is_made_once_per_seed_and_belongs_to_its_model(loaded: xai.LoadedModel) -> None:
    calls = []

    def make() -> xai.LoadedModel:
        calls.append(1)
        return loaded

    assert reference.randomised(loaded, 123, make) is reference.randomised(loaded, 123, make)
    assert len(calls) == 1
    other = xai.load_model(None, cache=False)  # same weights, another module: another memo
    reference.randomised(other, 123, make)
    assert len(calls) == 2


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.stem)
def test_stopping_the_sanity_draws_early_never_changes_the_verdict(loaded: xai.LoadedModel, photo) -> None:
    prepared, prediction = prepare(loaded, str(photo))
    for method, options in CHEAP.items():
        if registry.METHODS[method].sanity is None:
            continue
        expl = pipeline.explain(loaded, prepared, prediction, method, options=options)
        (curves,) = order_curves(
            loaded, prepared.image, [expl.heatmap], [expl.target], steps=4, grid=16, baselines="blur", seed=0
        )
        full = quality.randomisation(loaded, prepared.image, expl, settle=False)
        settled = quality.randomisation(loaded, prepared.image, expl)
        assert quality.verdict(expl, curves, settled) == quality.verdict(expl, curves, full), (method, full, settled)

"""ZeroGPU duration estimates: they grow with the job, count occlusion windows on the model's own input, stay capped."""

from __future__ import annotations

import math

import pytest
from planted import planted_classifier

from explainers import cost, registry
from explainers.errors import OptionError

SQUARE = (224, 224)


def test_grad_cam_asks_for_twenty_seconds():
    assert cost.explain_seconds({"gradcam": {"layer": None}}, SQUARE) == 20


def test_occlusion_counts_its_windows_at_the_input_size():
    # (224 - 32) // 16 + 1 = 13 windows a side, 169 in all, 20 a second
    assert cost.explain_seconds({"occlusion": {"window": 32, "stride": 16}}, SQUARE) == 15 + 169 // 20


def test_occlusion_on_a_larger_input_asks_for_more():
    options = {"occlusion": {"window": 32, "stride": 16}}
    assert cost.explain_seconds(options, (448, 448)) > cost.explain_seconds(options, SQUARE)
    assert cost.explain_seconds(options, (224, 448)) == 15 + (13 * 27) // 20


def test_integrated_gradients_counts_its_passes():
    assert cost.explain_seconds({"integrated_gradients": {"n_steps": 64, "smooth_samples": 0}}, SQUARE) == 19
    assert cost.explain_seconds({"integrated_gradients": {"n_steps": 64, "smooth_samples": 4}}, SQUARE) == 31


def test_missing_options_count_at_the_registry_defaults():
    for name, method in registry.METHODS.items():
        assert cost.explain_seconds({name: {}}, SQUARE) == cost.explain_seconds({name: method.defaults}, SQUARE)


def test_several_methods_share_one_overhead():
    jobs = {name: dict(method.compare) for name, method in registry.METHODS.items()}
    alone = sum(cost.explain_seconds({name: options}, SQUARE) for name, options in jobs.items())
    assert cost.explain_seconds(jobs, SQUARE) == alone - cost.OVERHEAD_S * (len(jobs) - 1)


@pytest.mark.parametrize(
    "options",
    [{"integrated_gradients": {"n_steps": 10**300}}, {"occlusion": {"window": 1, "stride": 1}}],
    ids=["ig-steps", "occlusion-windows"],
)
def test_absurd_sizes_ask_for_the_most_zerogpu_grants(options):
    assert cost.explain_seconds(options, (4096, 4096)) == cost.MAX_S


def test_counterfactual_asks_for_its_steps():
    budget = math.ceil(cost.BUDGET)  # the sparsity phase's default time budget
    shrink = cost.SHRINK_STEPS // 10  # and its steps, at a tenth of a second each like the search's
    assert cost.counterfactual_seconds({"max_steps": 200}) == 40 + shrink + budget
    assert cost.counterfactual_seconds({}) == 20 + (cost.MAX_STEPS + cost.SHRINK_STEPS) // 10 + budget
    assert cost.counterfactual_seconds({"max_steps": 200, "shrink_steps": 0, "budget": 5.5}) == 46
    assert cost.counterfactual_seconds({"max_steps": 200, "shrink_steps": 20, "budget": None}) == 42
    assert cost.counterfactual_seconds({"max_steps": 10**12}) == cost.MAX_S


# The estimate a visitor reads before a job: work in forwards of one image, times one measured forward.


def test_dense_occlusion_costs_a_forward_and_a_half_per_window():
    # 16/8 on 224: 27 windows a side, 729 in all (the 51 s job)
    work = cost.forwards("occlusion", {"window": 16, "stride": 8, "mode": "dense"}, SQUARE)
    assert work == pytest.approx(cost.DEFAULT_SCORECARD_FORWARDS + 729 * cost.WINDOW_FORWARDS)


def test_coarse_to_fine_occlusion_costs_less_than_dense_and_auto_is_dense_only_on_a_gpu():
    sizes = {"window": 16, "stride": 8}
    dense = cost.forwards("occlusion", {**sizes, "mode": "dense"}, SQUARE)
    coarse = cost.forwards("occlusion", {**sizes, "mode": "coarse_to_fine"}, SQUARE)
    assert coarse < dense / 2
    assert cost.forwards("occlusion", {**sizes, "mode": "auto"}, SQUARE) == coarse
    assert cost.forwards("occlusion", {**sizes, "mode": "auto"}, SQUARE, cuda=True) == dense


def test_integrated_gradients_costs_grow_with_steps_times_smoothgrad_samples():
    small = cost.forwards("integrated_gradients", {"n_steps": 128, "smooth_samples": 0}, SQUARE)
    large = cost.forwards("integrated_gradients", {"n_steps": 128, "smooth_samples": 4}, SQUARE)
    assert large - small == pytest.approx(3 * 128 * cost.GRADIENT_PASS_FORWARDS)


def test_the_forward_time_is_measured_once_per_model():
    loaded = planted_classifier()
    first = cost.forward_seconds(loaded)
    assert 0 < first < 5
    assert cost.forward_seconds(loaded) == first  # cached: the same number, not a second measurement


def test_integrated_gradients_past_the_methods_budget_has_no_estimate_but_the_reason():
    with pytest.raises(OptionError, match="16,384 gradient evaluations"):
        cost.forwards("integrated_gradients", {"n_steps": 1024, "smooth_samples": 16}, SQUARE)

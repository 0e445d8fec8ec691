"""Grad-CAM variants: HiResCAM is CAM on a GAP + linear head, every variant for every target from one forward and one
backward, replayable receipts, the randomisation check per variant, and each bad argument refused.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import planted
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image

from explainers import pipeline, predict, prepare_image, registry
from explainers.errors import LayerError, OptionError, TargetError
from explainers.layers import FINAL, candidate_layers
from explainers.methods import cam_variants, gradcam
from explainers.trust import receipt, report
from explainers.trust import scorecard as quality
from explainers.types import LoadedModel, Target, TaskInfo

torch.set_num_threads(1)

CAMS = cam_variants.CAM_VARIANTS
NAMES = ("a", "b", "c", "d", "e")
LEFT, RIGHT = Target(0, "left", "regression"), Target(1, "right", "regression")
# Five targets of the planted regressor: plain, lowered and contrastive ones share the same backward.
FIVE = [LEFT, RIGHT, Target(0, "left", "regression", -1), Target(0, "left", "regression", 1, 1, "right"), RIGHT]


def resnet() -> LoadedModel:
    torch.manual_seed(0)
    net = timm.create_model("test_resnet", num_classes=len(NAMES))
    return planted.make_loaded(net, TaskInfo("multiclass", NAMES), input_size=160, model_id="test_resnet")


def test_the_registry_lists_every_variant_once_with_gradcam_first_and_the_default() -> None:
    method = registry.get("gradcam")
    assert tuple(method.variants) == gradcam.VARIANTS == (*CAMS, "attention")
    assert method.defaults["variant"] == "gradcam" == gradcam.VARIANTS[0]
    assert registry.label("gradcam", {"variant": "gradcam++"}) == "Grad-CAM++"
    assert registry.label("gradcam") == registry.label("gradcam", {"variant": "gradcam"}) == "Grad-CAM"


def test_hirescam_and_grad_cam_are_the_class_activation_map_on_a_gap_linear_head() -> None:
    # Zhou et al. 2016: CAM_t = sum_c w_tc A_c. With logits = W mean_hw(A) + b, dy_t/dA_c,ij = w_tc / (gh gw), so
    # HiResCAM = CAM / (gh gw) exactly, and Grad-CAM's spatial mean of that constant gradient gives the same map.
    loaded = resnet()
    image = torch.randn(1, 3, 160, 160, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        acts = loaded.model.forward_features(image)
    gh, gw = acts.shape[2:]
    weight = loaded.model.get_classifier().weight
    for t in range(len(NAMES)):
        cam = torch.einsum("c,chw->hw", weight[t], acts[0])
        expected = F.interpolate(cam[None, None] / (gh * gw), size=(160, 160), mode="bilinear", align_corners=False)
        expected_map = expected[0, 0].numpy()
        target = Target(t, NAMES[t], "multiclass")
        for variant in ("hirescam", "gradcam"):
            result = gradcam.explain(loaded, image, target=target, variant=variant)
            tol = 1e-5 * np.abs(expected_map).max()
            np.testing.assert_allclose(result.heatmap, expected_map, rtol=1e-4, atol=tol, err_msg=variant)


def test_all_variants_for_five_targets_cost_one_forward_and_one_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = planted.planted_regressor()
    candidate_layers(loaded)  # the one-time layout probe of a new model is not part of a call
    backward = []
    real = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: backward.append(1) or real(*a, **k))
    loaded.model.forward_calls = 0
    maps = gradcam.explain_variants(loaded, planted.random_images(1, 64), targets=FIVE, variants=CAMS)
    assert loaded.model.forward_calls == 1 and len(backward) == 1
    assert list(maps) == list(CAMS) and all(len(m) == 5 for m in maps.values())


def test_eigencam_alone_runs_no_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = planted.planted_regressor()
    backward = []
    real = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: backward.append(1) or real(*a, **k))
    gradcam.explain_many(loaded, planted.random_images(1, 64), targets=FIVE, variant="eigencam")
    assert backward == []


@pytest.mark.parametrize("layer", [None, "stage 3 (layer2, 1/8)"])
def test_explain_variants_gives_the_maps_of_separate_calls(layer: str | None) -> None:
    loaded = resnet()
    image = torch.randn(1, 3, 160, 160, generator=torch.Generator().manual_seed(2))
    targets = [Target(i, n, "multiclass", -1 if i == 3 else 1) for i, n in enumerate(NAMES)]
    together = gradcam.explain_variants(loaded, image, targets=targets, variants=CAMS, layer=layer)
    for variant, maps in together.items():
        for target, result in zip(targets, maps, strict=True):
            alone = gradcam.explain(loaded, image, target=target, layer=layer, variant=variant)
            assert result.options == alone.options == {"layer": layer or FINAL, "variant": variant}
            scale = np.abs(alone.heatmap).max()
            np.testing.assert_allclose(result.heatmap, alone.heatmap, rtol=1e-4, atol=1e-6 * scale, err_msg=variant)


def test_layercam_localises_on_an_early_stage_where_the_planted_evidence_is() -> None:
    loaded = planted.planted_classifier(2, select_in_head=True)
    images = planted.random_images(20, 64, seed=5)
    box = planted.quadrant_box(64, 2)
    target = Target(0, "evidence", "multiclass")
    hits = [
        planted.peak_in_box(gradcam.explain(loaded, images[i : i + 1], target=target, variant=v).heatmap, box)
        for i in range(20)
        for v in ("layercam", "hirescam")
    ]
    assert np.mean(hits) >= 0.95  # element-wise weights see the box that channel-averaged Grad-CAM cannot


def test_eigencam_is_the_same_map_for_every_target_and_direction_and_says_so() -> None:
    maps = gradcam.explain_many(
        planted.planted_regressor(), planted.random_images(1, 64), targets=FIVE, variant="eigencam"
    )
    for result in maps[1:]:
        np.testing.assert_array_equal(result.heatmap, maps[0].heatmap)
    assert "same map for every target" in maps[0].notes[-1] and not maps[0].extras["zero_gradient"]
    assert abs(maps[0].heatmap.max()) >= abs(maps[0].heatmap.min())  # the sign convention: larger side positive


@pytest.mark.parametrize("variant", CAMS)
def test_every_variant_gives_a_finite_json_ready_map_on_a_vit_block(variant: str) -> None:
    torch.manual_seed(0)
    loaded = planted.make_loaded(
        timm.create_model("test_vit", num_classes=5), TaskInfo("multiclass", NAMES), input_size=160
    )
    result = gradcam.explain(loaded, torch.randn(1, 3, 160, 160), variant=variant)
    assert result.heatmap.shape == (160, 160) and np.isfinite(result.heatmap).all() and np.ptp(result.heatmap) > 0
    json.dumps([result.options, result.extras])


@pytest.mark.parametrize("variant", gradcam.VARIANTS)
def test_a_receipt_replays_each_variant(tmp_path, variant: str) -> None:
    loaded = planted.planted_vit() if variant == "attention" else planted.planted_classifier(3)
    path = tmp_path / "picture.png"
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).resize((64, 64), Image.BILINEAR).save(path)
    prepared = prepare_image(loaded, path)
    original = gradcam.explain(loaded, prepared.image, variant=variant)
    made = json.loads(json.dumps(receipt.build(loaded, prepared, original).to_dict()))
    assert made["options"]["variant"] == variant
    again = receipt.replay(made, path, loader=lambda model_id, revision: loaded)
    assert receipt.same_map(original, again) and again.options == original.options


@pytest.mark.parametrize("variant", CAMS)
def test_the_randomisation_check_reruns_the_maps_own_variant(monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    loaded = planted.planted_classifier(3, select_in_head=True)
    image = planted.random_images(1, 64, seed=1)
    result = gradcam.explain(loaded, image, target=Target(0, "evidence", "multiclass"), variant=variant)
    seen: list[str] = []
    real = gradcam.explain
    monkeypatch.setattr(gradcam, "explain", lambda *a, **k: seen.append(k["variant"]) or real(*a, **k))
    rho = quality.randomisation(loaded, image, result)
    # Every rerun is the map's own variant; the draws may stop early once the median cannot reach the warn line.
    assert seen and set(seen) == {variant} and len(seen) <= registry.get("gradcam").sanity.draws  # type: ignore[union-attr]
    assert rho < quality.WARN_CORRELATION  # the last stage holds the map's weights: it changes


def test_an_unknown_variant_is_an_option_error() -> None:
    with pytest.raises(OptionError, match=r"unknown variant 'scorecam'; choose one of gradcam, hirescam"):
        gradcam.explain(planted.planted_classifier(0), planted.random_images(1, 64), variant="scorecam")


def test_a_layer_with_the_attention_variant_is_an_option_error() -> None:
    with pytest.raises(OptionError, match="takes no layer"):
        gradcam.explain(planted.planted_vit(), planted.random_images(1, 64), variant="attention", layer=FINAL)


def test_the_attention_variant_on_a_cnn_is_a_layer_error_that_names_the_alternatives() -> None:
    with pytest.raises(LayerError, match=r"needs a transformer with attention blocks; ResNet has none; use gradcam"):
        gradcam.explain(resnet(), torch.randn(1, 3, 160, 160), variant="attention")


def test_explain_variants_without_variants_is_an_option_error() -> None:
    with pytest.raises(OptionError, match="each variant once"):
        gradcam.explain_variants(planted.planted_regressor(), planted.random_images(1, 64), targets=FIVE, variants=())


def test_explain_variants_with_a_repeated_variant_is_an_option_error() -> None:
    with pytest.raises(OptionError, match="each variant once"):
        gradcam.explain_variants(
            planted.planted_regressor(), planted.random_images(1, 64), targets=FIVE, variants=("gradcam", "gradcam")
        )


def test_explain_variants_without_targets_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="at least one target"):
        gradcam.explain_variants(planted.planted_regressor(), planted.random_images(1, 64), targets=[], variants=CAMS)


def test_the_variants_a_model_can_use_are_listed_per_model() -> None:
    assert gradcam.variants(resnet()) == CAMS
    assert gradcam.variants(planted.planted_vit()) == (*CAMS, "attention")


def test_the_pipeline_scores_and_reports_a_variant_under_its_own_name(tmp_path) -> None:
    loaded = planted.planted_classifier(3)
    path = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    prepared = prepare_image(loaded, path)
    (scored,) = pipeline.explain_scored(
        loaded, prepared, predict(loaded, prepared), ["gradcam"], options={"gradcam": {"variant": "layercam"}}
    )
    assert scored.receipt["options"] == {"layer": FINAL, "variant": "layercam"}
    assert scored.scorecard.randomisation is not None
    text = report.report(scored.receipt)
    assert (
        "### Where the evidence is (LayerCAM)" in text and "LayerCAM (layer=final features, variant=layercam)" in text
    )


@pytest.mark.gpu
@pytest.mark.parametrize("variant", gradcam.VARIANTS)
def test_cuda_maps_of_every_variant_match_cpu_maps(variant: str, device: str = "cuda") -> None:
    torch.manual_seed(0)
    net = timm.create_model("test_vit", num_classes=len(NAMES))
    cpu = planted.make_loaded(net, TaskInfo("multiclass", NAMES), input_size=160)
    other = dataclasses.replace(cpu, model=copy.deepcopy(cpu.model).to(device), device=torch.device(device))
    image = torch.randn(1, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    expected = gradcam.explain(cpu, image, variant=variant).heatmap
    result = gradcam.explain(other, image.to(device), variant=variant).heatmap
    np.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())

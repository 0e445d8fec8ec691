"""Attention rollout (Chefer et al. 2021): finds the planted cue where Grad-CAM misses (and the scorecard says so),
reads every timm ViT family, leaves the model as it was, and gives the serial answer from several threads at once.
"""

from __future__ import annotations

import threading

import numpy as np
import planted
import pytest
import timm
import torch
from threads import run_threads

from explainers.errors import LayerError
from explainers.methods import attention, gradcam
from explainers.trust.scorecard import scorecards
from explainers.types import LoadedModel, Target, TaskInfo

torch.set_num_threads(1)

N_IMAGES = 40
CUE = Target(0, "cue", "multiclass")
NAMES = ("a", "b", "c", "d", "e")
FAMILIES = [
    ("test_vit", {}, 160, "class token"),
    ("test_vit", {"reg_tokens": 4}, 160, "class token"),
    ("test_vit", {"dynamic_img_size": True}, 96, "class token"),
    ("test_vit2", {}, 160, "patch tokens"),
    ("test_vit3", {}, 160, "all tokens"),
    ("test_vit_relpos", {}, 160, "patch tokens"),
    ("deit_tiny_distilled_patch16_224", {"img_size": 64, "depth": 2}, 64, "class + distillation tokens"),
    ("eva02_tiny_patch14_224", {"img_size": 56, "depth": 2}, 56, "patch tokens"),
    ("beit_base_patch16_224", {"img_size": 64, "depth": 2, "embed_dim": 32, "num_heads": 2}, 64, "patch tokens"),
]


def timm_loaded(arch: str, kwargs: dict, size: int) -> LoadedModel:
    torch.manual_seed(0)
    net = timm.create_model(arch, num_classes=len(NAMES), **kwargs)
    return planted.make_loaded(net, TaskInfo("multiclass", NAMES), input_size=size, model_id=arch)


def fused_everywhere(loaded: LoadedModel) -> LoadedModel:
    """Every attention module on timm's fused path, as on any recent torch, so that the switch is exercised."""
    for module in attention.attention_modules(loaded):
        module.fused_attn = True
    return loaded


def test_the_attention_map_peaks_on_the_planted_cue() -> None:
    loaded = fused_everywhere(planted.planted_vit())
    images, boxes = planted.cue_images(N_IMAGES, seed=1)
    hits = [
        planted.peak_in_box(gradcam.explain(loaded, images[i : i + 1], target=CUE, variant="attention").heatmap, box)
        for i, box in enumerate(boxes)
    ]
    assert np.mean(hits) >= 0.95  # measured 1.0


def test_grad_cam_misses_the_cue_on_the_same_vit_and_its_scorecard_fails_it_while_attention_passes() -> None:
    # Grad-CAM reads block 1's patch tokens (the last block's never reach the class token) and averages each
    # channel's gradient over all 64 tokens, so the cue token's own gradient is diluted into weights that favour
    # the colour channels of the other tokens: its peak is never on the cue (measured pointing 0.0 on 40 images,
    # deletion/insertion gain about -0.91, "fail"). Attention rollout scores gain about +0.91, "pass".
    loaded = planted.planted_vit()
    images, boxes = planted.cue_images(N_IMAGES, seed=1)
    maps = [gradcam.explain(loaded, images[i : i + 1], target=CUE) for i in range(N_IMAGES)]
    assert np.mean([planted.peak_in_box(m.heatmap, box) for m, box in zip(maps, boxes, strict=True)]) < 0.5
    for i in range(3):
        rollout = gradcam.explain(loaded, images[i : i + 1], target=CUE, variant="attention")
        cam_card, attention_card = scorecards(loaded, images[i : i + 1], [maps[i], rollout])
        assert cam_card.badge != "pass" and "points away" in cam_card.reason
        assert attention_card.badge == "pass", attention_card.reason
        assert attention_card.randomisation is not None and attention_card.randomisation < 0.5


@pytest.mark.parametrize(
    ("arch", "kwargs", "size", "rows"), FAMILIES, ids=lambda v: str(v) if isinstance(v, str) else None
)
def test_every_vit_family_gives_the_rollout_of_the_tokens_its_head_reads(arch, kwargs, size, rows) -> None:
    loaded = fused_everywhere(timm_loaded(arch, kwargs, size))
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    targets = [Target(i, n, "multiclass") for i, n in enumerate(NAMES)]
    many = gradcam.explain_many(loaded, image, targets=targets, variant="attention")
    for target, result in zip(targets, many, strict=True):
        assert result.heatmap.shape == (size, size) and np.isfinite(result.heatmap).all()
        assert result.heatmap.min() >= 0 and np.ptp(result.heatmap) > 0  # eq. 5's ReLU keeps it non-negative
        assert result.extras["rows"] == rows and result.options == {"layer": None, "variant": "attention"}
        alone = gradcam.explain(loaded, image, target=target, variant="attention")
        np.testing.assert_allclose(result.heatmap, alone.heatmap, rtol=1e-4, atol=1e-6 * alone.heatmap.max())
    grid = many[0].extras["grid"]
    assert grid[0] * grid[1] == loaded.model.patch_embed.num_patches or kwargs.get("dynamic_img_size")


def test_an_attention_pooling_head_gets_a_note_that_its_own_attention_is_left_out() -> None:
    result = gradcam.explain(timm_loaded("test_vit3", {}, 160), torch.randn(1, 3, 160, 160), variant="attention")
    assert any("learned attention head" in note for note in result.notes)


def test_an_output_that_ignores_the_image_gets_a_blank_attention_map_and_a_note() -> None:
    images, _ = planted.cue_images(1)
    result = gradcam.explain(planted.planted_vit(), images, target=Target(1, "none", "multiclass"), variant="attention")
    assert result.extras["zero_gradient"] and "every attention block" in result.notes[-1]


def test_the_call_leaves_flags_hooks_and_weights_as_they_were() -> None:
    loaded = fused_everywhere(planted.planted_vit())
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    gradcam.explain(loaded, planted.cue_images(1)[0], variant="attention")
    assert all(m.__dict__["fused_attn"] is True for m in attention.attention_modules(loaded))
    assert planted.hooks_left(loaded.model) == 0 and not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in loaded.model.state_dict().items())


def test_flags_and_hooks_are_restored_when_the_call_fails() -> None:
    loaded = fused_everywhere(planted.planted_vit())
    with pytest.raises(RuntimeError):
        gradcam.explain(loaded, torch.zeros(1, 3, 64, 64, dtype=torch.float64), variant="attention")  # wrong dtype
    assert all(m.__dict__["fused_attn"] is True for m in attention.attention_modules(loaded))
    assert planted.hooks_left(loaded.model) == 0


def test_threads_sharing_a_vit_get_the_serial_maps_and_grad_cam_stays_on_the_fused_path() -> None:
    loaded = fused_everywhere(timm_loaded("test_vit", {"reg_tokens": 4}, 160))
    images = torch.randn(8, 3, 160, 160, generator=torch.Generator().manual_seed(4))
    variants = ["attention", "gradcam"]
    serial = {(i, v): gradcam.explain(loaded, images[i : i + 1], variant=v).heatmap for i in range(8) for v in variants}
    results: dict[tuple[int, str], np.ndarray] = {}

    def work(worker: int) -> None:
        for i in range(worker, 8, 4):
            for v in variants if worker % 2 else variants[::-1]:
                results[(i, v)] = gradcam.explain(loaded, images[i : i + 1], variant=v).heatmap

    run_threads(work, 4)
    for key, expected in serial.items():
        np.testing.assert_array_equal(results[key], expected, err_msg=str(key))
    assert all(m.__dict__["fused_attn"] is True for m in attention.attention_modules(loaded))
    assert planted.hooks_left(loaded.model) == 0


def test_the_switch_is_seen_only_by_the_thread_that_explains() -> None:
    loaded = fused_everywhere(planted.planted_vit())
    module = attention.attention_modules(loaded)[0]
    seen: dict[str, bool] = {}
    with attention._unfused([module], threading.get_ident()):
        seen["caller"] = bool(module.fused_attn)
        other = threading.Thread(target=lambda: seen.update(other=bool(module.fused_attn)))
        other.start()
        other.join()
    assert seen == {"caller": False, "other": True} and module.fused_attn is True


def test_a_model_without_attention_blocks_is_a_layer_error() -> None:
    with pytest.raises(LayerError, match="PlantedRegionNet has none"):
        attention.rollout(planted.planted_regressor(), planted.random_images(1, 64), None)


def test_a_vit_whose_head_reads_no_token_is_a_layer_error() -> None:
    loaded = timm_loaded("test_vit", {"global_pool": ""}, 160)
    with pytest.raises(LayerError, match="pools its tokens as ''"):
        attention.rollout(loaded, torch.randn(1, 3, 160, 160), None)


def test_the_attention_map_is_the_same_inside_no_grad() -> None:
    loaded, (images, _) = planted.planted_vit(), planted.cue_images(1)
    expected = gradcam.explain(loaded, images, variant="attention").heatmap
    with torch.no_grad():
        np.testing.assert_array_equal(gradcam.explain(loaded, images, variant="attention").heatmap, expected)

"""Grad-CAM layers: candidates from timm metadata, token and NHWC layouts on the grid, gradients at reshaped copies."""

from __future__ import annotations

import planted
import pytest
import timm
import torch

from explainers.errors import LayerError, OptionError
from explainers.layers import FINAL, candidate_layers, find_layer, forward_at, layer_grads, to_spatial
from explainers.types import LoadedModel, TaskInfo

torch.set_num_threads(1)

SWIN = dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), img_size=128, window_size=4)


def timm_loaded(arch: str, size: int = 160, **kwargs: object) -> LoadedModel:
    torch.manual_seed(0)
    net = timm.create_model(arch, num_classes=3, **kwargs)
    return planted.make_loaded(net, TaskInfo("multiclass", ("a", "b", "c")), input_size=size, model_id=arch)


def test_cnn_default_is_the_final_feature_map_then_stages_deepest_first() -> None:
    layers = candidate_layers(timm_loaded("test_efficientnet"))
    assert layers[0].key == FINAL and layers[0].index is None and layers[0].num_chs == 256
    assert [c.index for c in layers[1:]] == [4, 3, 2, 1, 0]
    assert layers[1].key == "stage 5 (blocks.4, 1/32)" and layers[1].reduction == 32


def test_a_last_stage_equal_to_the_final_map_is_listed_once() -> None:
    keys = [c.key for c in candidate_layers(timm_loaded("test_resnet"))]
    assert keys[0] == FINAL and not any("layer4" in k for k in keys)


def test_class_token_heads_drop_layers_whose_patch_tokens_never_reach_the_output() -> None:
    layers = candidate_layers(timm_loaded("test_vit"))
    assert FINAL not in [c.key for c in layers]
    assert layers[0].key == "block 5 (blocks.4, 1/16)" and layers[0].index == 4


def test_average_pooled_token_models_keep_the_final_features() -> None:
    assert candidate_layers(timm_loaded("test_vit", global_pool="avg", class_token=False))[0].key == FINAL


def test_planted_models_without_forward_intermediates_offer_only_the_final_map() -> None:
    assert [c.key for c in candidate_layers(planted.planted_classifier(0))] == [FINAL]


def test_an_unknown_layer_key_is_refused_with_the_valid_keys() -> None:
    with pytest.raises(OptionError, match=r"'stage 9'.*expected one of: 'final features', 'stage 3 \(stages.2"):
        find_layer(timm_loaded("test_convnext"), "stage 9")


def test_none_and_empty_keys_pick_the_default() -> None:
    loaded = timm_loaded("test_convnext")
    assert find_layer(loaded, None) == find_layer(loaded, "") == candidate_layers(loaded)[0]


def test_nchw_features_pass_through_unchanged() -> None:
    loaded = timm_loaded("test_resnet")
    features = torch.randn(2, 96, 5, 5)
    assert to_spatial(features, loaded, (160, 160)) is features


def test_nhwc_final_features_are_permuted_to_nchw() -> None:
    loaded = timm_loaded("swin_tiny_patch4_window7_224", 128, **SWIN)
    features = torch.randn(1, 4, 4, 128)
    assert torch.equal(to_spatial(features, loaded, (128, 128)), features.permute(0, 3, 1, 2))


def test_class_and_register_tokens_are_dropped_before_the_patch_grid_reshape() -> None:
    loaded = timm_loaded("test_vit", reg_tokens=4)
    assert loaded.model.num_prefix_tokens == 5
    tokens = torch.randn(1, 5 + 100, 64)
    spatial = to_spatial(tokens, loaded, (160, 160))
    assert spatial.shape == (1, 64, 10, 10)
    assert torch.equal(spatial[0, :, 2, 7], tokens[0, 5 + 2 * 10 + 7])


def test_dynamic_size_token_models_take_their_grid_from_the_input() -> None:
    loaded = timm_loaded("test_vit", dynamic_img_size=True)
    assert to_spatial(torch.randn(1, 1 + 6 * 8, 64), loaded, (96, 128)).shape == (1, 64, 6, 8)


def test_pooled_features_are_refused_as_not_spatial() -> None:
    with pytest.raises(LayerError, match=r"shape \(1, 96\).*cannot be laid out"):
        to_spatial(torch.randn(1, 96), timm_loaded("test_resnet"), (160, 160))


def test_tokens_that_do_not_fit_the_patch_grid_are_refused() -> None:
    with pytest.raises(LayerError, match="99 spatial tokens do not fit a patch grid"):
        to_spatial(torch.randn(1, 1 + 99, 64), timm_loaded("test_vit"), (160, 160))


def _manual_vit_block_gradient(loaded: LoadedModel, image: torch.Tensor, index: int) -> torch.Tensor:
    """dlogit0 / d(block `index` output) by running the ViT by hand, patch tokens on their grid (1, C, gh, gw)."""
    net = loaded.model
    with torch.enable_grad():
        x = net.norm_pre(net._pos_embed(net.patch_embed(image.requires_grad_(True))))
        for block in net.blocks[: index + 1]:
            x = block(x)
        tap = x
        for block in net.blocks[index + 1 :]:
            x = block(x)
        (grad,) = torch.autograd.grad(net.forward_head(net.norm(x))[0, 0], tap)
    return grad[:, net.num_prefix_tokens :].reshape(1, 10, 10, -1).permute(0, 3, 1, 2)


def test_the_gradient_at_a_reshaped_vit_intermediate_is_the_block_outputs_own_gradient() -> None:
    loaded = timm_loaded("test_vit", reg_tokens=4)
    image = torch.randn(1, 3, 160, 160)
    layer = find_layer(loaded, "block 3 (blocks.2, 1/16)")
    features, outputs = forward_at(loaded, image, layer)
    assert features.grad_fn is not None and outputs.shape == (1, 3)
    grads = layer_grads(outputs[:, :1], features)
    torch.testing.assert_close(grads[0], _manual_vit_block_gradient(loaded, image, 2), rtol=1e-4, atol=1e-7)


def test_the_gradient_at_a_permuted_swin_stage_is_the_nhwc_stage_gradient_permuted() -> None:
    loaded = timm_loaded("swin_tiny_patch4_window7_224", 128, **SWIN)
    net, image = loaded.model, torch.randn(1, 3, 128, 128)
    features, outputs = forward_at(loaded, image, find_layer(loaded, "stage 3 (layers.2, 1/16)"))
    grads = layer_grads(outputs[:, 1:2], features)
    with torch.enable_grad():
        x = net.layers[:3](net.patch_embed(image.requires_grad_(True)))
        (expected,) = torch.autograd.grad(net.forward_head(net.norm(net.layers[3](x)))[0, 1], x)
    torch.testing.assert_close(grads[0], expected.permute(0, 3, 1, 2), rtol=1e-4, atol=1e-7)


def test_the_final_map_costs_no_backbone_graph() -> None:
    loaded = timm_loaded("test_resnet")
    features, outputs = forward_at(loaded, torch.randn(1, 3, 160, 160), find_layer(loaded, None))
    assert features.is_leaf and features.requires_grad and outputs.requires_grad


def test_stage_outputs_come_with_the_full_forward_even_where_timm_stops_early_by_default() -> None:
    loaded = timm_loaded("hiera_tiny_224", 128, embed_dim=16, num_heads=1, stages=(1, 1, 1, 1), img_size=128)
    features, outputs = forward_at(loaded, torch.randn(1, 3, 128, 128), find_layer(loaded, "stage 2 (blocks.1, 1/8)"))
    assert features.shape == (1, 32, 16, 16) and outputs.shape == (1, 3)


def test_a_final_map_that_is_not_an_image_grid_is_left_out() -> None:
    keys = [c.key for c in candidate_layers(timm_loaded("pit_ti_224", 224))]  # PiT's final features: class tokens
    assert FINAL not in keys and keys[0] == "stage 2 (transformers.1, 1/16)"


class PooledNet(torch.nn.Module):
    """forward_features already pools: no grid anywhere, and no forward_intermediates."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)
        self.num_features, self.feature_info, self.calls = 4, [{"num_chs": 4, "reduction": 1, "module": "conv"}], 0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x).mean((2, 3))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def test_a_model_without_any_spatial_layer_is_refused_once_probed() -> None:
    loaded = planted.make_loaded(PooledNet(), TaskInfo("multiclass", ("a", "b")), input_size=16)
    for _ in range(2):
        with pytest.raises(LayerError, match=r"no layer keeps a spatial gradient.*occlusion or integrated gradients"):
            candidate_layers(loaded)
    copy = planted.make_loaded(PooledNet(), TaskInfo("multiclass", ("a", "b")), input_size=16)
    with pytest.raises(LayerError):
        candidate_layers(copy)
    assert loaded.model.calls == 1 and copy.model.calls == 0  # one layout probe per model structure


def test_non_tensor_features_are_refused_as_not_spatial() -> None:
    with pytest.raises(LayerError, match="returns list features"):
        to_spatial([torch.randn(1, 96, 5, 5)], timm_loaded("test_resnet"), (160, 160))  # type: ignore[arg-type]

"""CAM variants agree with pytorch-grad-cam 1.5.7 (the reference implementation, a dev requirement) on the same model,
layer and target.

What is compared: pytorch-grad-cam's own output at the input resolution (ReLU on the layer's grid, min-max, cv2
bilinear resize, ReLU, min-max). Ours is the raw signed map upsampled bilinearly; its grid cells are recovered exactly
(least squares, ``curves.native``) and put through the same steps with torch's bilinear resize (align_corners=False,
which is what cv2.INTER_LINEAR computes). EigenCAM's principal component has no sign of its own: the reference keeps
LAPACK's, ours puts the larger side positive, so the EigenCAM comparison takes whichever sign of ours matches.
"""

from __future__ import annotations

import numpy as np
import planted
import pytest
import timm
import torch
import torch.nn.functional as F

from explainers.layers import candidate_layers
from explainers.methods import gradcam
from explainers.trust.curves import native
from explainers.types import LoadedModel, Target, TaskInfo

cams = pytest.importorskip("pytorch_grad_cam")
model_targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")

torch.set_num_threads(1)

TOLERANCE = 1e-4  # the bound; measured <= 3.4e-6 (float32 on both sides)
SIZE = 160
REFERENCE = {
    "gradcam": cams.GradCAM,
    "hirescam": cams.HiResCAM,
    "gradcam++": cams.GradCAMPlusPlus,
    "layercam": cams.LayerCAM,
    "eigencam": cams.EigenCAM,
}
NAMES = ("a", "b", "c", "d", "e")


@pytest.fixture(scope="module")
def resnet() -> LoadedModel:
    torch.manual_seed(0)
    net = timm.create_model("test_resnet", num_classes=len(NAMES))
    return planted.make_loaded(net, TaskInfo("multiclass", NAMES), input_size=SIZE, model_id="test_resnet")


def _minmax(values: np.ndarray) -> np.ndarray:
    values = values - values.min()
    return values / (1e-7 + values.max())  # pytorch_grad_cam.utils.image.scale_cam_image


def _as_reference_scales(cells: np.ndarray) -> np.ndarray:
    scaled = torch.from_numpy(_minmax(np.maximum(cells, 0)).astype(np.float32))[None, None]
    up = F.interpolate(scaled, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0, 0].numpy()
    return _minmax(np.maximum(up, 0))


@pytest.mark.parametrize("variant", sorted(REFERENCE))
@pytest.mark.parametrize(("layer", "module"), [(0, "layer4"), (1, "layer3")], ids=["final features", "stage 4"])
def test_each_variant_matches_pytorch_grad_cam_on_the_same_model_layer_and_target(
    resnet: LoadedModel, variant: str, layer: int, module: str
) -> None:
    key = candidate_layers(resnet)[layer].key
    image = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    targets = [Target(i, n, "multiclass") for i, n in enumerate(NAMES)]
    ours = gradcam.explain_many(resnet, image, targets=targets, layer=key, variant=variant)
    worst, shown = 0.0, 0
    with REFERENCE[variant](model=resnet.model, target_layers=[resnet.model.get_submodule(module)]) as reference:
        for target, mine in zip(targets, ours, strict=True):
            theirs = reference(
                input_tensor=image.clone().requires_grad_(True),  # the weights are frozen: the input records the graph
                targets=[model_targets.ClassifierOutputTarget(target.index)],
            )[0]
            cells = native(mine.heatmap, mine.extras["grid"])
            signs = (1, -1) if variant == "eigencam" else (1,)
            worst = max(worst, min(float(np.abs(_as_reference_scales(s * cells) - theirs).max()) for s in signs))
            shown += int(np.ptp(theirs) > 0.5)
    assert worst <= TOLERANCE
    assert shown >= 2  # the comparison is not between two blank maps

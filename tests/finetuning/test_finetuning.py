"""The fine-tune's pieces on tiny timm models: which parameters each stage moves, the loss per task, the plan's
checks, and that the corrections are learnt for every task while the loaded model stays as it was."""

from __future__ import annotations

import json
import re

import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from planted import hooks_left, make_loaded, random_images

from explainers.errors import OptionError
from explainers.types import TaskInfo
from finetuning import (
    Examples,
    Plan,
    Scale,
    finetune,
    last_stage_parameters,
    load_corrections,
    per_example_loss,
    score,
)
from finetuning.resume import Resumed, last_stage_forward
from finetuning.train import head_parameters

NAMES = ("cat", "dog", "car")


def tiny(task: TaskInfo, arch: str = "test_resnet", seed: int = 0):
    torch.manual_seed(seed)
    return make_loaded(timm.create_model(arch, num_classes=task.num_outputs), task, input_size=32)


def examples(n: int, targets: torch.Tensor, seed: int) -> Examples:
    return Examples(random_images(n, 32, seed=seed) * 2 - 1, targets, tuple(f"{seed}-{i}" for i in range(n)))


def test_the_head_stage_moves_the_classifier_and_the_last_stage_adds_the_last_feature_stage() -> None:
    resnet = timm.create_model("test_resnet", num_classes=3)
    assert head_parameters(resnet) == ["fc.weight", "fc.bias"]
    tail = last_stage_parameters(resnet)
    assert tail[-2:] == ["fc.weight", "fc.bias"] and all(n.startswith(("layer4.", "fc.")) for n in tail)
    lite = timm.create_model("tf_efficientnet_lite0", num_classes=3)
    tail = last_stage_parameters(lite)
    assert tail[0].startswith("blocks.5.") and {n.split(".")[0] for n in tail} == {
        "blocks",
        "conv_head",
        "bn2",
        "classifier",
    }


def test_multilabel_loss_is_bce_per_label_and_regression_loss_is_huber_on_z_scores() -> None:
    outputs, members = torch.tensor([[2.0, -1.0, 0.0]]), torch.tensor([[1.0, 0.0, 1.0]])
    tags = TaskInfo("multilabel", NAMES, thresholds=(0.3, 0.5, 0.7), abstain=0.25)
    want = F.binary_cross_entropy_with_logits(outputs, members)
    assert torch.allclose(per_example_loss(tags, outputs, members, Scale.of(tags, members)), want)
    food = TaskInfo(
        "regression", ("kcal", "g"), units=("kcal", "g"), target_mean=(200.0, 50.0), target_std=(100.0, 10.0)
    )
    values = torch.tensor([[500.0, 50.0]])  # 3 std above the mean in kcal, at the mean in g
    loss = per_example_loss(food, torch.tensor([[0.0, 0.0]]), values, Scale.of(food, values))
    assert torch.allclose(loss, torch.tensor([(2.5 + 0.0) / 2]))  # Huber(3, delta 1) = 3 - 0.5


def test_multilabel_scores_exact_match_at_the_models_own_thresholds() -> None:
    tags = TaskInfo("multilabel", NAMES, thresholds=(0.3, 0.5, 0.9), abstain=0.25)
    raw = torch.logit(torch.tensor([[0.35, 0.4, 0.85]]))
    assert score(tags, raw, torch.tensor([[1.0, 0.0, 0.0]]), Scale.of(tags, raw)) == 1.0
    assert score(tags, raw, torch.tensor([[1.0, 0.0, 1.0]]), Scale.of(tags, raw)) == 0.0


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression"])
def test_the_corrections_are_learnt_for_every_task_and_the_loaded_model_is_left_alone(kind: str) -> None:
    torch.manual_seed(1)
    if kind == "multiclass":
        task = TaskInfo("multiclass", NAMES)
        fix, keep = torch.full((8,), 2), torch.randint(0, 3, (24,))
    elif kind == "multilabel":
        task = TaskInfo("multilabel", NAMES, thresholds=(0.3, 0.5, 0.7), abstain=0.25)
        fix, keep = torch.tensor([[1.0, 0.0, 1.0]]).repeat(8, 1), torch.randint(0, 2, (24, 3)).float()
    else:
        task = TaskInfo(
            "regression", ("kcal", "g"), units=("kcal", "g"), target_mean=(200.0, 50.0), target_std=(100.0, 10.0)
        )
        fix, keep = torch.tensor([[450.0, 30.0]]).repeat(8, 1), 200 + 100 * torch.randn(24, 2)
    model = tiny(task)
    original, corrections = examples(24, keep, seed=1), examples(8, fix, seed=2)
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    scale = Scale.of(task, torch.cat([keep, fix]))
    start = score(task, model.model(corrections.images), corrections.targets, scale)
    net = finetune(model, original, corrections, Plan(head_epochs=40, head_lr=0.05, stage_epochs=5, stage_lr=1e-3))
    end = score(task, net(corrections.images), corrections.targets, scale)
    assert (end < 0.5 * start) if kind == "regression" else (end == 1.0 and start < 1.0)
    assert all(torch.equal(before[k], v) for k, v in model.model.state_dict().items())
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"head_epochs": -1}, "head epochs"),
        ({"head_epochs": 0, "stage_epochs": 0}, "head epochs + last-stage epochs"),
        ({"stage_lr": 0.0}, "last-stage learning rate"),
        ({"head_lr": float("nan")}, "head learning rate"),
        ({"correction_weight": -2.0}, "correction weight"),
        ({"batch": 0}, "batch"),
    ],
)
def test_each_bad_setting_of_the_plan_is_refused_by_name(change: dict, words: str) -> None:
    with pytest.raises(OptionError, match=re.escape(words)):
        Plan(**change).validate()


@pytest.mark.parametrize("arch", ["test_resnet", "test_vit", "test_convnext", "test_efficientnet"])
def test_the_last_stage_trains_on_cached_stage_inputs_that_give_the_networks_own_outputs(arch: str) -> None:
    net = timm.create_model(arch, num_classes=3).eval().requires_grad_(False)
    size = net.pretrained_cfg["input_size"][1]
    images = torch.randn(5, 3, size, size)
    forward, inputs = last_stage_forward(net, last_stage_parameters(net), images)
    assert isinstance(forward, Resumed) and len(inputs) == 5
    with torch.no_grad():
        assert torch.allclose(forward(inputs[2:4]), net(images[2:4]), atol=1e-4, rtol=1e-3)
    assert hooks_left(net) == 0


def test_a_stage_that_runs_twice_per_pass_falls_back_to_full_passes() -> None:
    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = timm.create_model("test_resnet", num_classes=3)
            self.feature_info = [{"module": "inner.layer3"}, {"module": "inner.layer4"}]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) + self.inner(x)

    net = Twice().eval()
    images = torch.randn(3, 3, 32, 32)
    forward, inputs = last_stage_forward(net, ["inner.layer4.0.conv1.weight"], images)
    assert forward is net and inputs is images and hooks_left(net) == 0


def test_export_rows_that_do_not_fit_or_point_outside_the_folder_are_skipped_and_counted(tmp_path) -> None:
    model = tiny(TaskInfo("multiclass", NAMES))
    export = tmp_path / "export"
    export.mkdir()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(export / "a.png")
    Image.new("RGB", (32, 32), (9, 9, 9)).save(tmp_path / "outside.png")
    rows = [
        {"file_name": "a.png", "id": "good", "label": "dog"},
        {"file_name": "../outside.png", "id": "escape", "label": "dog"},
        {"file_name": "a.png", "id": "unknown", "label": "cow"},
        ["not", "an", "object"],
    ]
    (export / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    found = load_corrections(model, export)
    assert found.examples.ids == ("good",) and found.examples.targets.tolist() == [1]
    assert found.skipped == {"KeyError": 1, "answer does not fit the model": 1, "AttributeError": 1}

"""Task metadata validation and the exact decision rules of the three task types."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explainers.errors import ConfigError
from explainers.models.tasks import DEFAULT_ABSTAIN, decide, parse_task, raw_from_value, task_config, user_scores
from explainers.types import TaskInfo


def logit(p: float) -> float:
    return math.log(p / (1 - p))


MULTILABEL = TaskInfo("multilabel", ("cat", "dog", "bird"), thresholds=(0.5, 0.7, 0.3), abstain=0.25)


def test_a_config_without_task_is_multiclass_with_generic_names() -> None:
    task = parse_task({"architecture": "test_resnet"}, "x", 3)
    assert task.kind == "multiclass"
    assert task.names == ("class 0", "class 1", "class 2")


def test_imagenet_synsets_become_readable_names() -> None:
    from timm.data import ImageNetInfo

    task = parse_task({"label_names": ImageNetInfo().label_names()}, "x", 1000)
    assert task.names[335] == "fox squirrel"
    assert len(set(task.names)) == 1000


def test_duplicate_label_names_are_made_unique() -> None:
    task = parse_task({"label_names": ["a", "b", "a"]}, "x", 3)
    assert len(set(task.names)) == 3


def test_label_count_that_does_not_match_the_head_is_refused_naming_repo_and_field() -> None:
    with pytest.raises(ConfigError, match=r"acme/x: 'label_names' has 2 entries but the model head has 3"):
        parse_task({"label_names": ["a", "b"]}, "acme/x", 3)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"task": "segmentation"}, "'task' must be"),
        ({"task": "multilabel"}, "needs 'label_names'"),
        ({"task": "multilabel", "label_names": ["a", "b"], "thresholds": [0.5, 1.5]}, "probability in"),
        ({"task": "multilabel", "label_names": ["a", "b"], "thresholds": [0.5]}, "'thresholds' has 1"),
        ({"task": "regression"}, "needs 'target_names'"),
        ({"task": "regression", "target_names": ["a", "b"], "target_mean": [0, 0]}, "both target_mean"),
        ({"task": "regression", "target_names": ["a", "b"], "target_mean": [0, 0], "target_std": [1, 0]}, "> 0"),
        ({"task": "regression", "target_names": ["a", "b"], "units": ["g"]}, "'units' has 1"),
        ({"task": "regression", "target_names": ["a", 3]}, "list of 2 strings"),
    ],
)
def test_bad_task_metadata_is_refused_with_the_field_named(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_task(config, "acme/x", 2)


@pytest.mark.parametrize(
    "task",
    [
        TaskInfo("multiclass", ("cat", "dog", "bird")),
        MULTILABEL,
        TaskInfo("regression", ("calories", "protein"), units=("kcal", "")),
        TaskInfo(
            "regression",
            ("calories", "protein"),
            units=("kcal", "g"),
            target_mean=(300.0, 20.0),
            target_std=(100.0, 5.0),
        ),
    ],
    ids=["multiclass", "multilabel", "regression", "regression-zscored"],
)
def test_task_config_is_the_inverse_of_parse_task(task: TaskInfo) -> None:
    assert parse_task(task_config(task), "x", task.num_outputs) == task


def test_task_config_writes_the_loaders_defaults_for_options_left_out() -> None:
    names = ("cat", "dog")
    multilabel = parse_task(task_config(TaskInfo("multilabel", names)), "x", 2)
    regression = parse_task(task_config(TaskInfo("regression", names)), "x", 2)
    assert multilabel == TaskInfo("multilabel", names, thresholds=(0.5, 0.5), abstain=DEFAULT_ABSTAIN)
    assert regression == TaskInfo("regression", names, units=("", ""))
    assert parse_task({"task": "multilabel", "label_names": list(names)}, "x", 2) == multilabel
    assert parse_task({"task": "regression", "target_names": list(names)}, "x", 2) == regression


def test_multiclass_decision_is_the_softmax_top1() -> None:
    task = TaskInfo("multiclass", ("a", "b", "c"))
    pred = decide(task, [0.0, 2.0, 1.0])
    assert pred.decision == "b"
    assert [n for n, _ in pred.top] == ["b", "c", "a"]
    assert pred.scores.sum() == pytest.approx(1.0)


def test_multilabel_reports_every_label_over_its_own_threshold_best_first() -> None:
    pred = decide(MULTILABEL, [logit(0.6), logit(0.65), logit(0.9)])
    # dog at 0.65 is under its 0.7 threshold; bird at 0.9 and cat at 0.6 are over theirs.
    assert pred.decision == "bird, cat"


def test_multilabel_says_none_when_nothing_passes_and_the_best_is_below_abstain() -> None:
    pred = decide(MULTILABEL, [logit(0.2), logit(0.1), logit(0.05)])
    assert pred.decision == "none"


def test_multilabel_says_uncertain_when_nothing_passes_but_something_is_likely() -> None:
    pred = decide(MULTILABEL, [logit(0.45), logit(0.69), logit(0.29)])
    assert pred.decision == "uncertain (most likely: dog)"


def test_threshold_itself_counts_as_positive() -> None:
    pred = decide(MULTILABEL, [logit(0.5), logit(0.1), logit(0.1)])
    assert pred.decision == "cat"


def test_regression_values_are_de_normalised_with_units() -> None:
    task = TaskInfo(
        "regression", ("calories", "protein"), units=("kcal", "g"), target_mean=(300.0, 20.0), target_std=(100.0, 5.0)
    )
    pred = decide(task, [0.5, -1.0])
    assert pred.scores.tolist() == pytest.approx([350.0, 15.0])
    assert pred.decision == "calories 350 kcal, protein 15 g"
    assert pred.to_dict()["values"][0] == {"name": "calories", "value": 350.0, "unit": "kcal"}
    assert raw_from_value(task, 0, 350.0) == pytest.approx(0.5)


def test_user_scores_are_sigmoids_for_multilabel() -> None:
    scores = user_scores(MULTILABEL, np.array([0.0, 100.0, -100.0]))
    assert scores.tolist() == pytest.approx([0.5, 1.0, 0.0])

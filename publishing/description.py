"""What a published model's outputs mean and where it comes from, checked in the command line's words."""

from __future__ import annotations

import re
from dataclasses import dataclass

from explainers.errors import ExplainerError
from explainers.models.sources import parse_source
from explainers.models.tasks import parse_task, task_config
from explainers.types import TaskInfo

from .errors import UploadError

_LICENSE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")  # Hub license ids: apache-2.0, mit, cc-by-4.0, other, ...


@dataclass(frozen=True)
class ModelDescription:
    """What the outputs mean and where the model comes from: config.json task metadata and card metadata.

    Attributes:
        task: the task as config.json will hold it (explainers.models.tasks.task_config writes it): the kind, one
            label (classification) or target (regression) name per output in output order, and the per-task options.
            Options left out are written with the loader's defaults (thresholds 0.5, abstain 0.25, blank units).
        license: a Hub license id (apache-2.0, mit, other, ...).
        base_model: the Hub id this was fine-tuned from.
        datasets: Hub dataset ids (or names) it was trained on.
        intended_use: what it is for, in the uploader's words.
        title: the card's heading.
    """

    task: TaskInfo
    license: str
    base_model: str | None = None
    datasets: tuple[str, ...] = ()
    intended_use: str | None = None
    title: str | None = None

    def validate(self) -> None:
        """Refuse descriptions the loader would refuse, in the command line's words.

        Raises:
            UploadError: a name list is empty or has duplicates, a per-output list has the wrong length, a value is out
                of range, or an option belongs to another task.
        """
        task = self.task
        noun = "--targets" if task.kind == "regression" else "--labels"
        if not task.names:
            raise UploadError(f"{noun} is empty: expected one name per model output")
        for i, name in enumerate(task.names):
            if not name.strip():
                raise UploadError(f"{noun} entry {i + 1} is blank: every output needs a name")
            if name in task.names[:i]:
                raise UploadError(
                    f"{noun} names {name!r} twice (entries {task.names.index(name) + 1} and {i + 1}); "
                    "names must be unique because users pick what to explain by name"
                )
        n = len(task.names)
        per_output = {
            "--thresholds": task.thresholds,
            "--units": task.units,
            "--target-mean": task.target_mean,
            "--target-std": task.target_std,
        }
        for flag, values in per_output.items():
            if values is not None and len(values) != n:
                raise UploadError(
                    f"{flag} gives {len(values)} values for {n} outputs ({noun}); give one per output "
                    "or a single value for all"
                )
        misplaced = {
            "--thresholds": task.thresholds is not None and task.kind != "multilabel",
            "--abstain-threshold": task.abstain is not None and task.kind != "multilabel",
            "--units": task.units is not None and task.kind != "regression",
            "--target-mean/--target-std": (task.target_mean or task.target_std) is not None
            and task.kind != "regression",
        }
        for flag, wrong in misplaced.items():
            if wrong:
                raise UploadError(f"{flag} does not apply to --task {task.kind}")
        if (task.target_mean is None) != (task.target_std is None):
            raise UploadError("give both --target-mean and --target-std (a z-scored head) or neither")
        if not _LICENSE_RE.match(self.license):
            raise UploadError(
                f"--license {self.license!r} is not a Hub license id: expected e.g. apache-2.0, mit, "
                "cc-by-4.0 or other (https://huggingface.co/docs/hub/repositories-licenses)"
            )
        if self.base_model is not None:
            try:
                hub_id = "@" not in self.base_model and parse_source(self.base_model).kind == "hub"
            except ExplainerError:
                hub_id = False
            if not hub_id:
                raise UploadError(
                    f"--base-model {self.base_model!r}: expected a Hub model id like timm/resnet50.a1_in1k"
                )
        try:  # the loader's own rules: threshold ranges, finite means, positive stds
            parse_task(task_config(task), "the description", n)
        except ExplainerError as exc:
            raise UploadError(str(exc)) from exc

"""Fine-tuning on visitors' corrections: finetune.py's work.

data reads an export of corrections and a sample of the original data as the model sees them; train fine-tunes
conservatively (the head, then optionally the last stage) with the task's loss; evaluate measures before and after;
publish writes the proved repo folder with the figures in its card and pushes it as a revision (through publishing);
run does all of it in order and records the fine-tune in the app's store.
"""

from explainers.corrections import CorrectionStore, data_dir, export
from explainers.similar.build import console_progress
from publishing import UploadError

from .data import Corrections, Examples, load_corrections, load_original
from .evaluate import METRICS, evaluate, figures, score
from .publish import card_section, push, write_folder
from .run import RunResult, train_run
from .train import Plan, Scale, finetune, last_stage_parameters, per_example_loss

__all__ = [
    "METRICS",
    "CorrectionStore",
    "Corrections",
    "Examples",
    "Plan",
    "RunResult",
    "Scale",
    "UploadError",
    "card_section",
    "console_progress",
    "data_dir",
    "evaluate",
    "export",
    "figures",
    "finetune",
    "last_stage_parameters",
    "load_corrections",
    "load_original",
    "per_example_loss",
    "push",
    "score",
    "train_run",
    "write_folder",
]

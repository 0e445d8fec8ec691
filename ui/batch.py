"""The Batch tab (/batch): many photos (files or a zip) -> one zip of maps and a CSV of predictions and scorecards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

import explainers as xai
from explainers import batch, registry

from . import gpu, outputs
from .common import endpoint, model, picture
from .components import Inputs, show_results
from .jobs import progress_for

TABLE = ("image", "decision", "method", "badge", "error")  # the columns the tab shows; the CSV has them all


@endpoint(
    "batch",
    returns=(
        "archive: a zip with maps/<photo>.<method>.npy and .png, receipts/<photo>.<method>.json and predictions.csv",
        "csv: predictions.csv: per photo and method the decision, top class, target, badge, reason, gain, timings",
        "table: the CSV's main columns, filled in photo by photo while the batch runs",
    ),
)
def on_batch(
    files: list[str] | None,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    methods: list[str],
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[Any, ...]]:
    """Explain many photos at once with one model, target and set of methods (each with its tab's defaults).

    Streams the table row by row; the zip and the CSV come at the end. A photo that cannot be read gets a row with
    the reason instead of stopping the batch. Cancelling stops it at the next step.

    Args:
        files: image files and/or .zip archives of them (by default at most 32 photos and 100 MB in all).
        methods: methods to run on each photo: any of 'gradcam', 'occlusion', 'integrated_gradients'.
    """
    items = batch.collect(files or [])
    loaded = model(model_id, revision)
    options = {m: dict(registry.METHODS[m].defaults) for m in registry.METHODS if m in (methods or [])}
    if not options:
        raise xai.OptionError(f"choose at least one method of {', '.join(registry.METHODS)}")
    report = progress_for(progress)
    with batch.Archive(outputs.folder(), f"batch-{len(items)}") as archive:
        for i, item in enumerate(items):
            part = None if report is None else _part(report, i, len(items), item.name)
            try:  # one GPU call per photo: the receipts hold its prediction
                *_, (view, step) = gpu.explain(model_id, revision, item.data, options, target, direction, part)
            except xai.ImageError as exc:  # reported in its row; the other photos go on
                archive.fail(item, str(exc))
            else:
                archive.add(item, step.scored, [picture(loaded, view, s.explanation) for s in step.scored])
            yield None, None, _table(archive.rows)
        zip_path, csv_path = archive.close()
    yield str(zip_path), str(csv_path), _table(archive.rows)


def _part(report: Any, i: int, n: int, name: str) -> Any:
    return lambda fraction, desc: report((i + fraction) / n, f"{name} ({i + 1}/{n}): {desc}")


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"headers": list(TABLE), "data": [[row.get(c, "") for c in TABLE] for row in rows]}


def build(inputs: Inputs) -> None:
    """The Batch tab: the photos and methods (model, target and direction from the inputs column), then the files."""
    with gr.Tab("Batch"):
        files = gr.File(
            label=f"Photos or a .zip of them (at most {batch.MAX_IMAGES})",
            file_count="multiple",
            file_types=["image", ".zip"],
            type="filepath",
        )
        methods = gr.CheckboxGroup(
            [(method.label, name) for name, method in registry.METHODS.items()],
            value=["gradcam"],
            label="Methods (each with its tab's defaults)",
        )
        with gr.Row(equal_height=True):
            run_button = gr.Button("Explain every photo", variant="primary", scale=4)
            stop_button = gr.Button("Stop", variant="stop", scale=1, min_width=80)
        table = gr.Dataframe(headers=list(TABLE), label="Results", interactive=False, wrap=True)
        with gr.Row():
            archive = gr.File(label="Maps, overlays, receipts and CSV (.zip)")
            csv_file = gr.File(label="Predictions and scorecards (.csv)")
    run = run_button.click(
        on_batch,
        [files, inputs.model_id, inputs.revision, inputs.target, inputs.direction, methods],
        [archive, csv_file, table],
        api_name="batch",
        **gpu.queue(),
    )
    show_results(inputs, run, [table, archive, csv_file], photo=False)
    stop_button.click(None, None, None, cancels=[run], api_visibility="private", queue=False)

"""The Compare tab (/compare): several methods for one target, in one unit on one colour scale, with agreement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

import explainers as xai
from explainers import registry, render
from explainers.pipeline import Scored
from explainers.trust import report
from explainers.trust.curves import density

from . import gpu, outputs
from .common import View, badge, endpoint, model, picture, plain, require_image
from .components import Inputs, picture_output, show_results
from .jobs import progress_for

CELLS = 16  # Compare shows every map at one resolution: a 16 x 16 grid, as the scorecard compares them


@endpoint(
    "compare",
    returns=(
        "side_by_side: every map as evidence density on one 16 x 16 grid and one colour scale, PNG",
        "cards: each method's scorecard verdict and reason, then their agreement table, Markdown",
        "report: plain-language report comparing the methods, Markdown",
        "receipts_file: the receipts as one JSON file (a list, one per method)",
        "receipts: the same list of receipts",
    ),
)
def on_compare(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    methods: list[str],
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[Any, ...]]:
    """Run several methods for one target: side by side on one colour scale, scorecards with their agreement.

    Streams: the side-by-side picture gains each method's panel as its map is done (fastest method first), then the
    scorecards, agreement, report and receipts come once every map is scored.

    Args:
        methods: registry names of the methods to run: any of 'gradcam', 'occlusion', 'integrated_gradients'.
    """
    loaded = model(model_id, revision)
    chosen = [m for m in registry.METHODS if m in (methods or [])]
    options = {m: dict(registry.METHODS[m].compare) for m in chosen}  # in display order
    shown = (0, "")  # (maps in the picture, its file): the last panel's picture is the final one
    for view, step in gpu.explain(
        model_id, revision, require_image(image), options, target, direction, progress_for(progress)
    ):
        if shown[0] != len(step.explanations):
            shown = len(step.explanations), _side_by_side(loaded, view, step.explanations)
        side_by_side = shown[1]
        if not step.scored:
            done = {e.method for e in step.explanations}
            pending = [f"**{registry.label(m)}**: {'⏳ scoring' if m in done else '⏳ computing'}" for m in chosen]
            yield side_by_side, "\n\n".join(pending), "", None, None
            continue
        scored = list(step.scored)
        receipts = [plain(s.receipt) for s in scored]
        cards = "\n\n".join(f"**{registry.label(s.explanation.method)}**: {badge(s)}" for s in scored)
        if len(scored) > 1:
            cards += "\n\n**Agreement** (rank correlation of where each map puts the evidence)\n\n" + _agreement(scored)
        text = report.report(receipts[0], others=receipts[1:])
        yield side_by_side, cards, text, outputs.save_receipt(receipts, f"compare-{view.sha256[:8]}"), receipts


def _side_by_side(loaded: xai.LoadedModel, view: View, explanations: Sequence[xai.Explanation]) -> str:
    """The maps so far side by side, on the colour scale they share, as a PNG file."""
    # Methods speak different units (logit drop per window, per-pixel attribution, channel-weighted activation) and
    # resolutions, so each map is put in one unit first: evidence density on a 16 x 16 grid, 1 = spread evenly.
    densities = [e.with_updates(heatmap=density(e.heatmap, CELLS), method=f"{e.method} density") for e in explanations]
    scale = render.shared_scale([d.heatmap for d in densities])
    panels = [picture(loaded, view, d, scale=scale) for d in densities]
    side_by_side = render.side_by_side(panels, [registry.label(e.method) for e in explanations])
    return outputs.save_png(side_by_side, "compare", compress_level=1)


def _agreement(scored: list[Scored]) -> str:
    """The scorecards' agreement as a Markdown table, one row and column per method."""
    names = [registry.label(s.explanation.method) for s in scored]
    rows = ["| | " + " | ".join(names) + " |", "|---" * (len(scored) + 1) + "|"]
    for name, s in zip(names, scored, strict=True):
        cells = [
            "1" if o is s else f"{s.scorecard.agreement.get(o.explanation.method, float('nan')):.2f}" for o in scored
        ]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def build(inputs: Inputs) -> None:
    """The Compare tab: which methods, then the side-by-side picture, the scorecards and the receipts."""
    with gr.Tab("Compare"):
        methods = gr.CheckboxGroup(
            [(method.label, name) for name, method in registry.METHODS.items()],
            value=list(registry.METHODS),
            label="Methods",
        )
        run_button = gr.Button("Compare on one colour scale", variant="primary")
        side_by_side = picture_output("Side by side")
        cards = gr.Markdown()
        with gr.Accordion("Report", open=True):
            text = gr.Markdown()
        receipts_file = gr.File(label="Receipts (JSON)")
        receipts = gr.JSON(label="Receipts", open=False)
    run = run_button.click(
        on_compare,
        [*inputs.explain, methods],
        [side_by_side, cards, text, receipts_file, receipts],
        api_name="compare",
        **gpu.queue(),
    )
    show_results(inputs, run, [cards, side_by_side, text, receipts_file, receipts])

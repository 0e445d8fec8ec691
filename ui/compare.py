"""The Compare tab (/compare): every applicable method and variant for one target, in one unit on one colour scale,
ranked by their scorecards so the report can say which map to believe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import gradio as gr

import explainers as xai
from explainers import display, registry, render
from explainers.pipeline import Scored
from explainers.trust import language, ranking, report
from explainers.trust.curves import density

from . import gpu, outputs
from .common import BADGE_ICONS, OVERLAY_ALPHA, View, badge, endpoint, model, picture, plain, require_image, user_errors
from .components import Inputs, maps_gallery, picture_output, show_results
from .jobs import progress_for

CELLS = 16  # Compare shows every map at one resolution: a 16 x 16 grid, as the scorecard compares them
KEPT_GALLERIES = 16  # the last runs' maps (~0.2 MB each per map and photo), for the gallery event after each run
UNIT = "evidence density on a 16 x 16 grid (1 = the evidence spread evenly)"
# Galleries of maps (Compare, Reproduce) show one full-width panel per row on a phone, two side by side elsewhere.
PHONE_CSS = (
    "<style>@media (max-width: 640px) { .xai-gallery .grid-container "
    "{ grid-template-columns: minmax(0, 1fr) !important; } }</style>"
)


class _Run(NamedTuple):
    """What a run's gallery is drawn from: the photo, the model input size, and the maps with their rank blocks."""

    view: View
    input_size: tuple[int, int]
    explanations: list[xai.Explanation]
    blocks: list[dict[str, Any]]


LEGEND_NOTE = (
    "All panels share this scale, so equal colours mean equal evidence. Red: supports the target; blue: counts against "
    "it; the black outline surrounds half the scale's end. The photo is grey under the maps so the colours show on any "
    "subject; the darker border lies outside the model's crop; a yellow box is occlusion's critical window. Panels are "
    "in rank order: the first is the one to trust first (see the ranking)."
)
_galleries: OrderedDict[tuple[str, ...], _Run] = OrderedDict()
_lock = threading.Lock()


@endpoint(
    "compare",
    returns=(
        "side_by_side: every map as evidence density on one 16 x 16 grid and one colour scale, PNG",
        "cards: the maps ranked by their scorecards (which to trust first), each verdict and reason, then their "
        "agreement table, Markdown",
        "report: plain-language report on the top-ranked map, saying which map to believe and why, Markdown",
        "receipts_file: the receipts as one JSON file (a list, one per map, each with its rank block)",
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
    """Run several methods (and Grad-CAM variants) for one target, rank them by their scorecards and say which to trust.

    Streams: the side-by-side picture gains each map's panel as it is done, then the ranked scorecards, agreement,
    report and receipts come once every map is scored. Maps the model cannot make (attention rollout without
    attention blocks) are skipped with a note.

    Args:
        methods: methods and variants to run, any of 'gradcam', 'hirescam', 'gradcam++', 'layercam', 'eigencam',
            'attention', 'occlusion', 'integrated_gradients' (the tab ticks every one the model can use).
    """
    loaded = model(model_id, revision)
    wanted = [k for k in registry.entries() if k in (methods or [])]
    usable = set(registry.applicable(loaded)) if wanted else set()
    chosen = [k for k in wanted if k in usable]
    skipped = [registry.label(k) for k in wanted if k not in usable]
    if wanted and not chosen:
        raise xai.OptionError(f"{', '.join(skipped)} cannot run on this model; choose occlusion or another method")
    options = {k: dict(registry.get(registry.entry(k)[0]).compare) for k in chosen}  # in display order
    note = f"\n\n_Skipped (not applicable to this model): {', '.join(skipped)}._" if skipped else ""
    shown = (0, "")  # (maps in the picture, its file): the last panel's picture is the final one
    for view, step in gpu.explain(
        model_id, revision, require_image(image), options, target, direction, progress_for(progress)
    ):
        if shown[0] != len(step.explanations):
            shown = len(step.explanations), _side_by_side(loaded, view, step.explanations)
        side_by_side = shown[1]
        if not step.scored:
            done = {registry.key(e.method, e.options) for e in step.explanations}
            pending = [f"**{registry.label(k)}**: {'⏳ scoring' if k in done else '⏳ computing'}" for k in chosen]
            yield side_by_side, "\n\n".join(pending) + note, "", None, None
            continue
        scored = list(step.scored)
        receipts = [plain(s.receipt) for s in scored]
        for r, block in zip(receipts, ranking.rank(receipts), strict=True):
            r["rank"] = block
        _keep_gallery(loaded, view, scored, receipts)
        cards = _cards(scored, receipts) + note
        best, *rest = ranking.ranked(receipts)
        text = report.report(best, others=rest)
        yield side_by_side, cards, text, outputs.save_receipt(receipts, f"compare-{view.sha256[:8]}"), receipts


def _cards(scored: list[Scored], receipts: list[dict[str, Any]]) -> str:
    """The ranking table, each map's verdict in rank order, then the agreement table."""
    order = sorted(range(len(scored)), key=lambda i: receipts[i]["rank"]["position"])
    lang = language.current()  # the request's (i18n.speaking)
    lines = [ranking.title(language=lang), ranking.table(receipts, language=lang)]
    lines += [f"**{i + 1}. {_label(scored[k])}**: {badge(scored[k])}" for i, k in enumerate(order)]
    if len(scored) > 1:
        lines += ["**Agreement** (rank correlation of where each map puts the evidence)", _agreement(scored)]
    return "\n\n".join(lines)


def _label(s: Scored) -> str:
    return registry.label(s.explanation.method, s.explanation.options)


def _densities(explanations: Sequence[xai.Explanation]) -> tuple[list[xai.Explanation], float]:
    # Methods speak different units (logit drop per window, per-pixel attribution, channel-weighted activation) and
    # resolutions, so each map is put in one unit first: evidence density on a 16 x 16 grid, 1 = spread evenly.
    densities = [e.with_updates(heatmap=density(e.heatmap, CELLS)) for e in explanations]
    return densities, render.shared_scale([d.heatmap for d in densities])


def _side_by_side(loaded: xai.LoadedModel, view: View, explanations: Sequence[xai.Explanation]) -> str:
    """The maps so far side by side, on the colour scale they share, as a PNG file (the API's picture)."""
    densities, scale = _densities(explanations)
    panels = [picture(loaded, view, d.with_updates(method=f"{d.method} density"), scale=scale) for d in densities]
    titles = [registry.label(e.method, e.options) for e in explanations]
    return outputs.save_png(render.side_by_side(panels, titles), "compare", compress_level=1)


def _keep_gallery(loaded: xai.LoadedModel, view: View, scored: list[Scored], receipts: list[dict[str, Any]]) -> None:
    """Keep the run for ``on_gallery`` under its key; the panels are drawn there, so /compare callers never wait on
    them (3 full-size panels cost ~0.3 s on one CPU thread).
    """
    run = _Run(view, loaded.input_size, [s.explanation for s in scored], [r["rank"] for r in receipts])
    with _lock:
        _galleries[_run_key(receipts)] = run
        while len(_galleries) > KEPT_GALLERIES:
            _galleries.popitem(last=False)


def _run_key(receipts: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(r.get("heatmap_sha256", "")) for r in receipts or () if isinstance(r, dict))


@user_errors
def on_gallery(receipts: list[dict[str, Any]] | None) -> tuple[Any, str, Any]:
    """The run's full-size panels in rank order, captioned, and their legend; the one-picture view folds away."""
    with _lock:
        run = _galleries.get(_run_key(receipts))
    if run is None:
        return [], "", gr.Accordion(open=True)
    densities, scale = _densities(run.explanations)
    panels = []
    for k in sorted(range(len(densities)), key=lambda i: run.blocks[i]["position"]):
        d, block, view = densities[k], run.blocks[k], run.view
        rgb = render.overlay(view.rgb, d.heatmap, view.crop_box, scale=scale, alpha=OVERLAY_ALPHA, colorbar=False)
        box = d.extras.get("critical_box")
        if box is not None:
            rgb = render.mark_box(rgb, tuple(box), view.crop_box, model_hw=run.input_size)
        gain = f" gain {block['gain']:.2f}" if block.get("gain") is not None else ""
        caption = f"#{block['position']} {block['label']} {BADGE_ICONS.get(block['badge'], '')}{gain}"
        panels.append((outputs.save_png(rgb, f"compare-{block['position']}", compress_level=1), caption))
    return panels, display.legend_html(scale, unit=UNIT, note=LEGEND_NOTE), gr.Accordion(open=False)


def _agreement(scored: list[Scored]) -> str:
    """The scorecards' agreement as a Markdown table, one row and column per map."""
    names = [_label(s) for s in scored]
    keys = [registry.key(s.explanation.method, s.explanation.options) for s in scored]
    rows = ["| | " + " | ".join(names) + " |", "|---" * (len(scored) + 1) + "|"]
    for name, s in zip(names, scored, strict=True):
        agree = s.scorecard.agreement
        cells = ["1" if o is s else f"{agree.get(k, float('nan')):.2f}" for o, k in zip(scored, keys, strict=True)]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def build(inputs: Inputs) -> None:
    """The Compare tab: which methods, then the ranked gallery of full-size maps, the scorecards and the receipts."""
    with gr.Tab("Compare"):
        methods = gr.CheckboxGroup(
            [(registry.label(k), k) for k in registry.entries()],
            value=registry.entries(),
            label="Methods and variants",
            info="every one this model can use runs (attention rollout only on ViT-style models); "
            "Grad-CAM's variants share one forward and backward, so they cost little",
        )
        run_button = gr.Button("Compare on one colour scale", variant="primary")
        legend = gr.HTML(head=PHONE_CSS)
        gallery = maps_gallery("Maps, ranked (click one to enlarge)")
        with gr.Accordion("All maps in one picture (also what /compare returns)", open=True) as one_picture:
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
    run.success(on_gallery, [receipts], [gallery, legend, one_picture], api_visibility="private", queue=False)
    show_results(inputs, run, [cards, side_by_side, text, receipts_file, receipts, gallery, legend])

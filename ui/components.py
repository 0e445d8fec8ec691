"""Components the tabs share: the upload that our decoder reads, the model and target inputs, the explanation panel."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gradio as gr

from explainers.errors import ImageError
from explainers.models import catalog

from .common import DIRECTIONS, STOPPED, TOP1, last_error, user_error

ROOT = Path(__file__).resolve().parents[1]
# On a phone (one column) the photo comes first, then the target and the tabs with their buttons, and only then the
# examples and the model fields: the action within one screen, not after 1,700 px of inputs. Results never get
# wider than the screen (long JSON lines wrap).
PHONE_CSS = """
@media (max-width: 720px) {
  #xai-main { flex-direction: column; flex-wrap: nowrap; }
  #xai-inputs { display: contents; }
  #xai-image { order: 1; }
  #xai-target { order: 2; }
  #xai-tabs { order: 3; }
  #xai-examples { order: 4; }
  #xai-model { order: 5; }
  #xai-image { height: 240px !important; }
  #xai-image img { max-height: 170px; object-fit: contain; }
  #xai-title h1 { font-size: 1.4rem; margin-bottom: 0; }
  #xai-title p { display: none; }
}
#xai-tabs [data-testid="json"] { overflow-x: auto; max-width: 100%; }
#xai-tabs [data-testid="json"] span.content { white-space: pre-wrap; overflow-wrap: anywhere; }
"""
EXAMPLES = [str(ROOT / "examples" / f"{name}.jpg") for name in ("coffee", "chelsea", "astronaut", "rocket")]


class SafeImage(gr.Image):
    """gr.Image that hands the raw upload path to our decoder instead of opening it with PIL itself.

    gr.Image's own preprocessing calls PIL.Image.open, so a corrupt file fails there with Gradio's generic "error"
    before our code runs; explainers.images.load_image gives the user a message that says what was wrong.
    """

    is_template = True  # keeps the front-end component "image"

    def preprocess(self, payload: Any) -> Any:
        """The upload's path for a file; anything else as gr.Image reads it, with our message when it cannot."""
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        try:
            return super().preprocess(payload)
        except Exception as exc:
            problem = (
                f"The upload is not a usable image ({type(exc).__name__}: {exc}). Upload a PNG, JPEG or WebP photo."
            )
            raise user_error(ImageError(problem), "upload") from exc


class OpenDropdown(gr.Dropdown):
    """gr.Dropdown that takes any text (allow_custom_value) and says so in its API schema.

    gr.Dropdown's schema lists its choices as an enum even when custom values are allowed, and the MCP server
    validates tool arguments against it: a target's choices are only filled once a model is loaded, so an agent could
    otherwise only ever ask for "top-1" and the default layer.
    """

    is_template = True  # keeps the front-end component "dropdown"

    def api_info(self) -> dict[str, Any]:
        """A plain string; the choices are suggestions."""
        return {"type": "string"}


@dataclass(frozen=True)
class Inputs:
    """The column every tab reads: the photo, the model, and the target to explain."""

    image: SafeImage
    picker: gr.Dropdown
    model_id: gr.Textbox
    revision: gr.Textbox
    load_button: gr.Button
    model_info: gr.Markdown
    target: OpenDropdown
    direction: gr.Radio
    # Every tab's results: cleared when a new photo or model comes in (wire_new_input), so none describes another.
    results: list[gr.components.Component] = field(default_factory=list)

    @property
    def upload(self) -> list[gr.components.Component]:
        """(image, model_id, revision): what every endpoint but load_model starts with."""
        return [self.image, self.model_id, self.revision]

    @property
    def explain(self) -> list[gr.components.Component]:
        """The upload, then target and direction: what every explanation endpoint starts with."""
        return [*self.upload, self.target, self.direction]


def inputs() -> Inputs:
    """Lay out the photo (with the example photos), the model fields and the target, in the current column."""
    image = SafeImage(type="filepath", label="Image", sources=["upload", "clipboard"], height=320, elem_id="xai-image")
    gr.Examples(
        examples=[[p] for p in EXAMPLES],
        inputs=[image],
        label="Example photos (CC0, see examples/CREDITS.md)",
        elem_id="xai-examples",
    )
    with gr.Group(elem_id="xai-model"):
        picker = gr.Dropdown(
            choices=[("Built-in EfficientNet-Lite0 (default)", "default"), *catalog.choices()],
            value=None,
            label="Pick a well-known model",
            info="fills the Model box below (or type any Hub repo id there)",
        )
        model_id = gr.Textbox(
            value="default",
            label="Model",
            info="'default' or a Hub repo id (owner/name) with config.json + model.safetensors",
        )
        revision = gr.Textbox(value="", label="Revision", info="branch, tag or commit sha (optional)")
        load_button = gr.Button("Load model", size="sm")
        model_info = gr.Markdown()
    with gr.Group(elem_id="xai-target"):
        target = OpenDropdown(
            choices=[TOP1],
            value=TOP1,
            label="Target",
            allow_custom_value=True,
            info="class / label / output to explain; type a name and press Enter",
        )
        direction = gr.Radio(DIRECTIONS, value="raises", label="Explain what ... the target")
    return Inputs(image, picker, model_id, revision, load_button, model_info, target, direction)


def picture_output(label: str, *, type: Literal["numpy", "filepath"] = "numpy") -> gr.Image:
    """A read-only PNG picture."""
    return gr.Image(label=label, type=type, format="png", interactive=False)


def maps_gallery(label: str) -> gr.Gallery:
    """Full-size map panels, two a row (one on a phone: the xai-gallery CSS), as tall as their pictures."""
    # height="auto" caps a gallery at 55% of the screen's height; max-content shows every panel whole.
    return gr.Gallery(
        label=label, columns=2, height="max-content", object_fit="contain", preview=False, elem_classes=["xai-gallery"]
    )


def explanation_panel() -> tuple[list[gr.components.Component], gr.HTML]:
    """The six outputs of an explanation endpoint (overlay, badge, report, raw map, receipt file, receipt), and the
    colour legend shown under the overlay (filled by a private event: not an API output).
    """
    overlay = picture_output("Explanation")
    legend = gr.HTML()
    badge = gr.Markdown(label="Quality")
    with gr.Accordion("Report", open=True):
        text = gr.Markdown()
    with gr.Row():
        npy = gr.File(label="Raw map (.npy, float32, model input size)")
        receipt_file = gr.File(label="Receipt (JSON: replays this map)")
    result = gr.JSON(label="Receipt", open=False)
    return [overlay, badge, text, npy, receipt_file, result], legend


def show_results(inputs: Inputs, run: Any, shown: list[gr.components.Component], *, photo: bool = True) -> None:
    """Make ``shown`` (a tab's results) describe only the current photo and model, and the last run's failure.

    They are cleared when a new photo is uploaded or another model loaded, and when ``run`` (the tab's event) fails
    they are replaced by the error (in their first Markdown) instead of keeping the previous run's results under
    Gradio's red "Error" labels.

    Args:
        photo: False for results that do not describe the inputs column's photo (Batch): only the failure is shown.
    """
    if photo:
        inputs.results.extend(shown)
    run.failure(failed(shown), None, shown, api_visibility="private", queue=False, show_progress="hidden")


def failed(shown: list[gr.components.Component]) -> Any:
    """A failure handler: ``shown`` blank, the session's last error in the first Markdown among them."""

    def on_failure(request: gr.Request) -> list[Any]:
        message = last_error(request)
        return blank(shown, message if message == STOPPED else f"❌ **Error** · {message}")

    return on_failure


def blank(shown: list[gr.components.Component], message: str = "") -> list[Any]:
    """Empty values for ``shown``, with ``message`` in the first Markdown."""
    values: list[Any] = []
    for component in shown:
        if isinstance(component, gr.Markdown):
            values.append(message)
            message = ""
        else:
            values.append(None)
    return values

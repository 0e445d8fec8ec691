"""The UX glue called directly: progress text, one log line per user error, blank results, Enter in the Target box,
the cost estimate and the targets the Prediction tab lists after an upload."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from gradio.context import LocalContext
from servers import ROOT

import explainers as xai
from ui import common, components, explanation, jobs, predict

COFFEE = str(ROOT / "examples" / "coffee.jpg")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("occlusion: occlusion: 51/729 windows", "occlusion: 51/729 windows"),
        ("scorecard: deletion 3/8", "scorecard: deletion 3/8"),
        ("coffee.jpg (1/2): gradcam: gradcam: forward", "coffee.jpg (1/2): gradcam: forward"),
    ],
)
def test_progress_text_names_the_method_once(raw: str, shown: str) -> None:
    assert jobs.clean(raw) == shown


def test_a_user_error_is_one_log_line_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    @common.user_errors
    def on_thing() -> None:
        raise xai.TargetError("this model has no class named 'x'")

    with caplog.at_level(logging.INFO, logger="app"), pytest.raises(gr.Error) as info:
        on_thing()
    assert info.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == [
        "user error in on_thing: TargetError: this model has no class named 'x'"
    ]


def test_the_failure_handler_shows_the_sessions_last_error_once() -> None:
    request: Any = SimpleNamespace(session_hash="s1")
    token = LocalContext.request.set(request)
    try:
        common.user_error(xai.OptionError("n_steps must be a number, got 'abc'"), "on_x")
    finally:
        LocalContext.request.reset(token)
    shown = components.blank([gr.Image(), gr.Markdown(), gr.Markdown(), gr.JSON()], "x")
    assert shown == [None, "x", "", None]
    assert common.last_error(request) == "n_steps must be a number, got 'abc'"
    assert common.last_error(request) == "see the message at the top right"


def test_enter_in_the_target_box_picks_the_name_typed_exactly() -> None:
    def key(text: str, name: str = "Enter") -> Any:
        return SimpleNamespace(key=name, input_value=text)

    assert predict.on_target_key("espresso maker", "default", "", key("espresso")) == "espresso"
    assert predict.on_target_key("porcupine", "default", "", key("CUP")) == "cup"
    assert isinstance(predict.on_target_key("top-1", "default", "", key("espresso", "a")), type(gr.skip()))
    assert isinstance(predict.on_target_key("top-1", "default", "", key("espres")), type(gr.skip()))


def test_an_upload_lists_its_top_classes_first_among_the_targets() -> None:
    *_, result, update = predict.on_predict_upload(COFFEE, "default", "")
    assert result["decision"] == "espresso"
    choices = [c[0] if isinstance(c, tuple) else c for c in update["choices"]]
    top = [t["name"] for t in result["top"][:5]]
    assert choices[0] == "top-1" and choices[1:6] == top
    assert len(choices) == 1001


def test_the_estimate_warns_before_a_long_job_and_not_before_a_short_one() -> None:
    long = explanation.estimate("occlusion", "default", "", {"window": 16, "stride": 8, "mode": "dense"})
    short = explanation.estimate("gradcam", "default", "", {})
    assert long.startswith("⚠️ **Long job") and "Stop" in long, long
    assert short.startswith("⏱ about") and "Long" not in short, short


def test_the_legend_beside_the_picture_states_the_colour_scale_in_the_targets_unit() -> None:
    *_, last = explanation.run("gradcam", COFFEE, "default", "", "", "raises", {}, None)
    receipt = last[5]
    html = explanation.on_legend(receipt)
    assert "Colour scale" in html and "logit of espresso" in html and "red raises" in html, html
    assert explanation.on_legend({"heatmap_sha256": "unknown"}) == explanation.on_legend(None) == ""


def test_a_model_that_does_not_load_is_reported_once_not_again_by_the_answer_hint() -> None:
    from ui import corrections

    assert corrections.on_answer_hint("not a repo id!!", "") == gr.update()  # no second error pop-up
    assert "info" in corrections.on_answer_hint("default", "")


def test_a_stopped_job_reads_stopped_not_error_when_its_failure_event_arrives() -> None:
    request: Any = SimpleNamespace(session_hash="s-stop")
    shown = [gr.Image(), gr.Markdown(), gr.JSON()]
    token = LocalContext.request.set(request)
    try:  # what the cancelled job's progress check raises once Stop cancelled it
        common.user_error(xai.CancelledError("the visitor left the page; the job was stopped"), "on_occlusion")
    finally:
        LocalContext.request.reset(token)
    assert components.failed(shown)(request) == [None, common.STOPPED, None]
    common.user_error(xai.OptionError("bad"), "on_x")  # no session: nothing remembered, the toast says it
    assert components.failed(shown)(request)[1].startswith("❌ **Error** · ")

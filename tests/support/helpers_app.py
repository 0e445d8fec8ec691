"""Shared pieces of the reliability tests (uploads, fuzzing, load, browser): endpoint arguments, calls with a
timeout, what counts as "our" error message, server-log checks, and result comparison."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gradio_client import Client, handle_file
from servers import ROOT

EXAMPLES = ROOT / "examples"
COFFEE = EXAMPLES / "coffee.jpg"
CHELSEA = EXAMPLES / "chelsea.jpg"
ASTRONAUT = EXAMPLES / "astronaut.jpg"
ROCKET = EXAMPLES / "rocket.jpg"
PHOTOS = (COFFEE, CHELSEA, ASTRONAUT, ROCKET)

ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A request that normally takes a second must never take this long: past it the call counts as a hang.
CALL_TIMEOUT = 90.0

# What Gradio shows when a handler raises something other than gr.Error (or gr.Error with no text): no detail.
GENERIC_MESSAGES = ("error", "the app raised an exception", "exception", "")

# Cheap option sets per explainer endpoint (all within the UI's slider ranges), in the endpoint's argument order
# after (image, model_id, revision).
CHEAP_OPTIONS: dict[str, dict[str, Any]] = {
    "gradcam": {"target": "top-1", "direction": "raises", "layer": "", "variant": "gradcam"},
    "occlusion": {
        "target": "top-1",
        "direction": "raises",
        "window": 112,
        "stride": 56,
        "baselines": "blur",
        "mode": "dense",
    },
    "integrated_gradients": {
        "target": "top-1",
        "direction": "raises",
        "n_steps": 8,
        "baselines": "black",
        "smooth_samples": 0,
    },
    "counterfactual": {
        "goal": "any other class",
        "l2": 1.0,
        "l1": 0.25,
        "tv": 0.1,
        "max_steps": 10,
        "mask_threshold": 0.0,
        "seed": 0,
        "threshold": 0.6,
    },
    "compare": {"target": "top-1", "direction": "raises", "methods": ["gradcam", "occlusion"]},
    "batch": {"target": "top-1", "direction": "raises", "methods": ["gradcam"]},
}
# What the explainer endpoints (gradcam, occlusion, integrated_gradients) return, in order.
EXPLANATION_OUTPUTS = ("overlay", "badge", "report", "npy", "receipt_file", "receipt")


def final(outputs: Any) -> Any:
    """A handler's final outputs: the last yield of a streaming handler (a generator), else its return value."""
    if not isinstance(outputs, Iterator):
        return outputs
    *_, last = outputs
    return last


def finished(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` called to its final outputs (see ``final``), for tests written against plain return values."""
    return lambda *args, **kwargs: final(handler(*args, **kwargs))


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    """A zip archive at ``path`` holding ``members`` (name -> bytes), deflated; its path."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def endpoint_args(endpoint: str, image: str | Path | None, **overrides: Any) -> list[Any]:
    """Positional API arguments for an endpoint: (image, "default", "") then its options, cheap unless overridden."""
    if endpoint == "load_model":
        return [overrides.get("model_id", "default"), overrides.get("revision", "")]
    if endpoint == "replay":  # (image, receipt .json, kept map .npy or None)
        kept = overrides.get("map")
        return [handle_file(str(image)), handle_file(str(overrides["receipt"])), kept and handle_file(str(kept))]
    head = [
        None if image is None else [handle_file(str(image))] if endpoint == "batch" else handle_file(str(image)),
        overrides.pop("model_id", "default"),
        overrides.pop("revision", ""),
    ]
    if endpoint == "predict":
        return head
    options = {**CHEAP_OPTIONS[endpoint], **overrides}
    unknown = set(options) - set(CHEAP_OPTIONS[endpoint])
    if unknown:
        raise KeyError(f"{endpoint} takes no option(s) {sorted(unknown)}")
    return head + list(options.values())


def call(client: Client, endpoint: str, args: Sequence[Any], timeout: float = CALL_TIMEOUT) -> Any:
    """client.predict with a time limit: a hung request fails the test (TimeoutError) instead of stalling CI."""
    return client.submit(*args, api_name=f"/{endpoint}").result(timeout=timeout)


def error_text(exc: BaseException) -> str:
    """The message a gradio_client caller reads for a failed request (AppError carries gr.Error's text)."""
    return str(getattr(exc, "message", None) or exc)


def assert_our_message(exc: BaseException, *words: str) -> str:
    """The failure carries a specific message (ours), not Gradio's generic one, and mentions every word given."""
    text = error_text(exc)
    assert text.strip().lower().rstrip(".!") not in GENERIC_MESSAGES, f"generic message {text!r} ({type(exc)})"
    assert "raised an exception" not in text, text
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in {text!r}"
    return text


def unexpected_server_errors(log: str) -> list[str]:
    """Final lines of the tracebacks in a server log that are not gr.Error (what a user reads as a message).

    Gradio prints a traceback for every gr.Error too; any other exception type escaping a handler is a crash. A
    chained traceback ("The above exception was the direct cause ...") is judged by its outermost exception only.
    """
    chained = ("The above exception was the direct cause", "During handling of the above exception")
    finals: list[str] = []
    pending: str | None = None  # the last line of a traceback, until we know whether another one is chained to it
    in_traceback = False
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            in_traceback = False
            pending = line
        elif pending is not None and line.strip():
            if not line.startswith(chained):
                finals.append(pending)
            pending = None
    if pending is not None:
        finals.append(pending)
    return [line for line in finals if not line.startswith(BENIGN)]


# What a server log may show that is no crash: gr.Error (a message for the user), and a file download the browser gave
# up on mid-body (starlette's FileResponse stops streaming on http.disconnect; uvicorn then reports the short body as
# h11's "Too little data for declared Content-Length"). The page does that when a new photo clears an image that is
# still loading.
BENIGN = ("gradio.exceptions.Error", "h11._util.LocalProtocolError: Too little data for declared Content-Length")


# Wall times; batch sizes chosen from the measured speed of a probe pass (so they vary with the server's load); and
# the map's sha256, which a different batch size changes by float round-off (the maps themselves are compared); and
# when a receipt was written.
_VOLATILE_KEYS = {
    "created",
    "timings",
    "seconds",
    "total",
    "probe",
    "perturbations_per_eval",
    "internal_batch_size",
    "heatmap_sha256",
}


def stable(result: Any) -> Any:
    """A JSON result without the keys that depend on wall time or load, for comparing two runs of the same request."""
    if isinstance(result, dict):
        return {k: stable(v) for k, v in result.items() if k not in _VOLATILE_KEYS}
    if isinstance(result, list):
        return [stable(v) for v in result]
    return result


def assert_same_json(got: Any, want: Any, *, rel: float = 1e-4, where: str = "") -> None:
    """Equal structure and strings; numbers equal to a relative tolerance (float32 sums in a different order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            assert_same_json(got[key], want[key], rel=rel, where=f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_json(g, w, rel=rel, where=f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)), f"{where}: {got!r} != {want!r}"
        assert abs(got - want) <= rel * max(1.0, abs(want)), f"{where}: {got!r} != {want!r}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def assert_same_map(got_path: str, want_path: str, *, rel: float = 1e-4) -> None:
    """Two raw .npy maps are the same map (to float32 round-off, relative to the map's largest value)."""
    got, want = np.load(got_path), np.load(want_path)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    scale = max(float(np.abs(want).max()), 1e-12)
    assert float(np.abs(got - want).max()) <= rel * scale, f"max difference {np.abs(got - want).max()} (scale {scale})"


def dumps(result: Any) -> str:
    return json.dumps(result, sort_keys=True, default=str)


def open_tab(page: Any, name: str) -> None:
    """Click a tab by its label, through Gradio's "More tabs" menu when the row has no room for it."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.get_by_role("button", name="More tabs").click()
    page.locator(".overflow-dropdown button", has_text=name).first.click()


# Viewports the browser tests check: a desktop window and a phone (iPhone 12-15 CSS pixels).
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def open_page(browser: Any, url: str, upload: Path | None = None, viewport: dict[str, int] = DESKTOP) -> Any:
    """A new page on the app at ``viewport``, with ``upload`` in the image box once the server holds it."""
    page = browser.new_page(viewport=viewport, is_mobile=viewport["width"] < 600, has_touch=viewport["width"] < 600)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.get_by_role("button", name="Predict", exact=True).wait_for()
    if upload is not None:
        upload_photo(page, upload)
    return page


def upload_photo(page: Any, upload: Path) -> None:
    """Put ``upload`` in the image box (its own file input, the page's first) and wait until the server holds it."""
    page.locator("input[type=file]").first.set_input_files(str(upload))
    page.wait_for_function(
        "name => [...document.querySelectorAll('.image-container img')].some(i => i.src.includes('gradio_api/file=')"
        " && i.src.includes(name))",
        arg=upload.name,
    )


def visible_panel(page: Any) -> Any:
    """The tab panel on screen."""
    return page.get_by_role("tabpanel").filter(visible=True)


def error_labels(scope: Any) -> int:
    """How many of Gradio's red "Error" status labels (over an output whose event failed) ``scope`` shows."""
    return int(
        scope.evaluate(
            "el => [...el.querySelectorAll('[data-testid=status-tracker]')]"
            ".filter(t => t.offsetParent !== null && t.innerText.trim() === 'Error').length"
        )
    )

"""The Reproduce tab (/replay): rerun every map a receipt describes and judge each against the receipt (and the kept
map, when one is given), with a picture of what was replayed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import gradio as gr
import numpy as np

import explainers as xai
from explainers import display, registry
from explainers.models.preprocess import prepare_image
from explainers.trust import fingerprint, receipt

from . import gpu, outputs
from .common import endpoint, model, require_image, user_errors
from .components import Inputs, maps_gallery, show_results

KEPT_PICTURES = 16  # the last replays' maps, for the picture event that follows each replay
_pictures: OrderedDict[tuple[str, ...], tuple[dict[str, Any], Any, list[xai.Explanation], list[Any]]] = OrderedDict()
_lock = threading.Lock()


@endpoint(
    "replay",
    returns=(
        "map: the replayed raw map (of a Compare receipt: its first map), float32 .npy",
        "result: JSON with method, target, heatmap_sha256, bitwise_identical, reproduced (within float tolerance, "
        "judged from the receipt's fingerprint or the kept map), verdict and why; for a Compare receipt also maps, "
        "one such entry per map",
    ),
)
def on_replay(image: Any, receipt_file: Any, map_file: Any) -> tuple[Any, ...]:
    """Rerun every map a receipt describes on the same photo and check each one reproduces.

    A map recomputed elsewhere, or by a batched method (dense occlusion), is rarely bit-for-bit the same, so each is
    judged within float tolerance from the receipt alone; ``bitwise_identical`` says whether the bytes match too.

    Args:
        image: the very photo the receipt was made from (its sha256 is checked).
        receipt_file: the receipt JSON an explanation endpoint returned (a Compare receipt: every map is replayed).
        map_file: optional: the .npy map that endpoint returned, to compare with the replay (the map it matches).
    """
    if not receipt_file:
        raise xai.OptionError("no receipt was given: upload the receipt JSON a tab or endpoint returned")
    found = receipt.read_receipts(receipt_file)
    if not found:
        raise xai.OptionError("the receipt file holds an empty list: upload a receipt a tab or endpoint returned")
    photo = require_image(image)
    kept = receipt.read_map(map_file) if map_file else None
    replayed = [gpu.replay(data, photo) for data in found]
    checks = [_check(data, e) for data, e in zip(found, replayed, strict=True)]
    if kept is not None:
        index = _kept_index(found, kept)
        if kept.shape != replayed[index].heatmap.shape:
            raise xai.OptionError(f"the kept map is {kept.shape}, the replayed one {replayed[index].heatmap.shape}")
        checks[index].update(
            reproduced=receipt.same_map(replayed[index].heatmap, kept),
            max_abs_difference=float(np.abs(replayed[index].heatmap - kept).max()),
            kept_map=True,
        )
        checks[index]["verdict"], checks[index]["why"] = _verdict(checks[index])
    result = dict(checks[0])
    if len(checks) > 1:
        result["maps"] = checks
        result["verdict"] = _overall(checks)
        counts = ", ".join(
            f"{sum(c['verdict'] == v for c in checks)} {v}" for v in dict.fromkeys(c["verdict"] for c in checks)
        )
        result["why"] = f"{len(checks)} maps replayed: {counts}"
    _keep_pictures(found[0], photo, replayed, checks)
    return outputs.save_npy(replayed[0].heatmap, f"replay-{replayed[0].method}"), result


def _check(data: dict[str, Any], explanation: xai.Explanation) -> dict[str, Any]:
    sha = receipt.heatmap_sha256(explanation.heatmap)
    judged = fingerprint.check(explanation.heatmap, data.get("fingerprint"))
    out: dict[str, Any] = {
        "method": explanation.method,
        "label": registry.label(explanation.method, explanation.options),
        "target": explanation.target.label,
        "heatmap_sha256": sha,
        "bitwise_identical": sha == data.get("heatmap_sha256"),
        "reproduced": judged["reproduced"],
        "cell_difference": judged["cell_difference"],
        "why": judged["why"],
    }
    if out["bitwise_identical"]:
        out["reproduced"] = True
    out["verdict"], out["why"] = _verdict(out)
    return out


def _verdict(check: dict[str, Any]) -> tuple[str, str]:
    """(verdict, why): identical, reproduced (within tolerance), differs, or unchecked."""
    if check.get("kept_map"):
        why = f"against the kept map: largest difference {check['max_abs_difference']:.3g}"
    else:
        why = check["why"]
    if check["bitwise_identical"]:
        return "identical", "the replayed map has the receipt's sha256: the same bytes"
    if check["reproduced"] is None:
        return "unchecked", why
    return ("reproduced" if check["reproduced"] else "differs"), why


def _overall(checks: list[dict[str, Any]]) -> str:
    verdicts = {c["verdict"] for c in checks}
    if verdicts <= {"identical", "reproduced"}:
        return "reproduced" if "reproduced" in verdicts else "identical"
    return "differs" if "differs" in verdicts else "unchecked"


def _kept_index(found: list[dict[str, Any]], kept: np.ndarray) -> int:
    """The receipt the kept map belongs to (by its sha256), else the first."""
    sha = receipt.heatmap_sha256(kept)
    return next((i for i, data in enumerate(found) if data.get("heatmap_sha256") == sha), 0)


def _keep_pictures(data: dict[str, Any], photo: Any, replayed: list[xai.Explanation], checks: list[Any]) -> None:
    """Keep the replay for ``on_picture`` under its key (the pictures are drawn there: /replay callers never wait)."""
    with _lock:
        _pictures[tuple(c["heatmap_sha256"] for c in checks)] = (data["model"], photo, replayed, checks)
        while len(_pictures) > KEPT_PICTURES:
            _pictures.popitem(last=False)


@user_errors
def on_picture(result: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The replayed maps over the photo, each captioned with its verdict."""
    if not isinstance(result, dict):
        return []
    checks = result.get("maps") or [result]
    with _lock:
        found = _pictures.get(tuple(str(c.get("heatmap_sha256")) for c in checks if isinstance(c, dict)))
    if found is None:
        return []
    source, photo, replayed, kept_checks = found
    loaded = model(source["id"], source.get("revision"))
    prepared = prepare_image(loaded, photo)
    pictures = []
    for explanation, check in zip(replayed, kept_checks, strict=True):
        rgb = display.readable_overlay(prepared.rgb, explanation, prepared.crop_box, task=loaded.task)
        name = f"replay-{registry.key(explanation.method, explanation.options)}"
        pictures.append((outputs.save_png(rgb, name, compress_level=1), f"{check['label']}: {check['verdict']}"))
    return pictures


def build(inputs: Inputs) -> None:
    """The Reproduce tab: a receipt and (optionally) the kept map, with the photo from the inputs column."""
    with gr.Tab("Reproduce"):
        gr.Markdown(
            "Upload a receipt (a Compare receipt replays every map) with the same image to rerun the explanation and "
            "check it reproduces. The receipt alone is enough: each map is judged within float tolerance against the "
            "fingerprint the receipt keeps; add the `.npy` you kept to compare it value by value."
        )
        with gr.Row():
            receipt_file = gr.File(label="Receipt (.json)", file_types=[".json"], type="filepath")
            map_file = gr.File(label="Kept map (.npy, optional)", file_types=[".npy"], type="filepath")
        run_button = gr.Button("Replay", variant="primary")
        pictures = maps_gallery("Replayed maps")
        npy = gr.File(label="Replayed map (.npy; of a Compare receipt, the first map)")
        result = gr.JSON(label="Replay")
    run = run_button.click(
        on_replay, [inputs.image, receipt_file, map_file], [npy, result], api_name="replay", **gpu.queue()
    )
    run.success(on_picture, [result], [pictures], api_visibility="private", queue=False)
    show_results(inputs, run, [npy, result, pictures])

"""A plain-language report of one explanation, from its receipt, by fixed templates (no language model)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import registry
from ..similar.sentence import report_sentence
from .ranking import trust_sentence
from .reading import how_to_read

CONFIDENT = 0.9  # above: "confident"
FAIRLY_CONFIDENT = 0.6  # from here to CONFIDENT: "fairly confident"; below: "uncertain"
SPREAD = 0.25  # when no region of the 3x3 grid holds more than this share, the evidence is "spread out"
AGREE, PARTLY = 0.5, 0.2  # rank correlations of where two methods put the evidence
# Words that make a model or an input look medical; matched as whole words (so "ct" never matches "insect").
MEDICAL = re.compile(
    r"\b(x[- ]?rays?|ct|mri|chest|lesions?|tum(?:o|ou)rs?|pneumonia|dermatolog\w*|dermoscop\w*|medical|radiolog\w*|"
    r"patholog\w*|histolog\w*|melanoma|mammogra\w*|retina\w*|fundus|covid(?:-19)?|clinical|diagnos\w*|nodules?)\b",
    re.IGNORECASE,
)
CAVEAT = "A heatmap shows what the model used for its answer, not what causes the class in the world."
CLINICAL = (
    "**Not for clinical use.** This looks like a medical image or model. This demo is not a medical device; its "
    "answers and heatmaps must not inform diagnosis or treatment."
)


def report(receipt: Mapping[str, Any], *, others: Sequence[Mapping[str, Any]] = ()) -> str:
    """Markdown report of one explanation: prediction and confidence, where the evidence is, agreement, verdict,
    caveats. The same receipt always gives the same text.

    Args:
        receipt: a receipt's ``to_dict`` (see receipt.build).
        others: receipts of other methods on the same image and target, to say whether they agree and pass.
    """
    method = registry.label(receipt["method"], receipt.get("options"))
    target = receipt["target"]
    sections = [
        "### Prediction\n" + _prediction(receipt) + (_contrast(receipt) if target.get("contrast") else ""),
        f"### Where the evidence is ({method})\n" + _where(receipt),
    ]
    believe = trust_sentence([receipt, *others])
    if believe:
        sections.insert(1, "### Which map to believe\n" + believe)
    agreement = _agreement(receipt, others)
    if agreement:
        sections.append("### Do the methods agree?\n" + agreement)
    sections.append("### How far to trust this map\n" + _verdict(receipt))
    sections.append("### How to read the picture\n" + "\n".join(f"- {line}" for line in how_to_read(receipt)))
    if receipt.get("similar"):
        sections.append("### Similar cases\n" + report_sentence(receipt["similar"]))
    caveats = [CAVEAT, *_method_caveats(receipt)]
    if target["direction"] == "lowers":
        caveats.append(f"This map explains what lowers {_quantity(target)}: positive areas push it down.")
    sections.append("### Caveats\n" + "\n".join(f"- {c}" for c in caveats))
    if is_medical(receipt, others):
        sections.append(CLINICAL)
    sections.append(_footer(receipt))
    return "\n\n".join(sections) + "\n"


def is_medical(receipt: Mapping[str, Any], others: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Whether the model, its labels or the input look medical (MEDICAL words, or a grayscale picture)."""
    texts = []
    for r in (receipt, *others):
        prediction = r.get("prediction") or {}
        texts += [str(r["model"].get("id", "")), str(r["target"].get("name", ""))]
        texts += [str(item.get("name", "")) for key in ("top", "labels", "values") for item in prediction.get(key, [])]
    words = " ".join(texts).replace("_", " ").replace("/", " ")
    return bool(MEDICAL.search(words)) or bool(receipt["image"].get("grayscale"))


def confidence_band(probability: float) -> tuple[str, str]:
    """(band, advice) for a probability: confident / fairly confident / uncertain."""
    if probability > CONFIDENT:
        return "confident", "a confident model can still be wrong on pictures unlike the ones it was trained on"
    if probability >= FAIRLY_CONFIDENT:
        return "fairly confident", "check the runner-up before relying on the answer"
    return "uncertain", "treat this answer with caution"


def _prediction(receipt: Mapping[str, Any]) -> str:
    target, prediction = receipt["target"], receipt.get("prediction")
    if prediction is None:
        return f"The model's raw output for **{target['name']}** is {receipt['score']:.3g} (no probabilities recorded)."
    if prediction["task"] == "regression":
        values = {v["name"]: v for v in prediction["values"]}
        v = values.get(target["name"], prediction["values"][0])
        unit = f" {v['unit']}" if v.get("unit") else ""
        return (
            f"The model estimates **{v['name']}** at **{_number(v['value'])}{unit}**. A regression model gives no "
            "probability: judge the value against what you expect, and against other pictures of the same thing."
        )
    if prediction["task"] == "multilabel":
        labels = {item["name"]: item["probability"] for item in prediction["labels"]}
        p = labels.get(target["name"], 0.0)
        band, advice = confidence_band(p if p >= 0.5 else 1 - p)
        verdict = "present" if target["name"] in prediction.get("positive", []) else "absent"
        return (
            f"The model's labels: **{prediction['decision']}**. It reads **{target['name']}** as {verdict} "
            f"({_percent(p)}): {band}; {advice}."
        )
    top = prediction["top"]
    first, rest = top[0], top[1:]
    band, advice = confidence_band(first["probability"])
    text = f"The model says **{first['name']}** ({_percent(first['probability'])}): {band}; "
    if band == "fairly confident" and rest:
        text += (
            f"check the runner-up, **{rest[0]['name']}** ({_percent(rest[0]['probability'])}), before relying on it."
        )
    elif rest:
        others = ", ".join(f"{t['name']} ({_percent(t['probability'])})" for t in rest[:3])
        text += f"{advice}. Next: {others}."
    else:
        text += f"{advice}."
    if target["name"] != first["name"] and not target.get("contrast"):
        p = next((t["probability"] for t in top if t["name"] == target["name"]), None)
        shown = f" ({_percent(p)})" if p is not None else ""
        text += f"\n\nThe map explains **{target['name']}**{shown}, not the top answer."
    return text


def _contrast(receipt: Mapping[str, Any]) -> str:
    target = receipt["target"]
    a, b = target["name"], target["contrast"]
    what = "outputs" if target.get("kind") == "regression" else "logits"
    return (
        f"\n\nThe map explains why **{a}** rather than **{b}**: it attributes the difference of their {what} "
        f"({a} minus {b}, {receipt['score']:.3g} here), so it shows what tells them apart, not what either has alone."
    )


def _quantity(target: Mapping[str, Any]) -> str:
    return f"{target['name']} rather than {target['contrast']}" if target.get("contrast") else str(target["name"])


def _where(receipt: Mapping[str, Any]) -> str:
    ev = receipt["evidence"]
    if ev["positive_share"] == 0:
        return "The map shows nothing that supports the target: every area counts against it or not at all."
    area = f"half of it lies in about {_percent(ev['area_half'])} of the image"
    share = _percent(ev["main_share"])
    if ev["main_share"] >= 0.5:
        text = f"Most of the supporting evidence ({share}) is in the **{ev['main']}**; {area}."
    elif ev["main_share"] > SPREAD:
        text = f"The largest share of the supporting evidence ({share}) is in the **{ev['main']}**; {area}."
    elif ev["area_half"] <= SPREAD:
        text = (
            f"The supporting evidence is concentrated around the **{ev['peak']}** but crosses into neighbouring "
            f"regions (none holds more than {share} of it); {area}."
        )
    else:
        text = f"The supporting evidence is spread out: no ninth of the picture holds more than {share} of it; {area}."
    if ev["peak"] != ev["main"] and ev["main_share"] > SPREAD:
        text += f" The single strongest spot is in the {ev['peak']}."
    if ev["positive_share"] < 0.6:
        text += (
            f" Much of the map ({_percent(1 - ev['positive_share'])}) counts against the target: look at the negative "
            "areas too."
        )
    return text


def _agreement(receipt: Mapping[str, Any], others: Sequence[Mapping[str, Any]]) -> str:
    card = receipt.get("scorecard") or {}
    scores = dict(card.get("agreement") or {})
    mine = registry.key(receipt["method"], receipt.get("options"))
    for other in others:  # a receipt made alone can still be compared through the others' scorecards
        theirs = (other.get("scorecard") or {}).get("agreement") or {}
        key = registry.key(other["method"], other.get("options"))
        if key not in scores and mine in theirs:
            scores[key] = theirs[mine]
    if not scores:
        return ""
    me = registry.label(receipt["method"], receipt.get("options"))
    parts = []
    for name in sorted(scores):
        rho = float(scores[name])
        word = "agrees" if rho >= AGREE else "partly agrees" if rho >= PARTLY else "disagrees"
        parts.append(f"{registry.label(name)} {word} with {me} on where the evidence is (rank correlation {rho:.2f}).")
    badges = [
        f"{registry.label(o['method'], o.get('options'))}: {o['scorecard']['badge']}"
        for o in others
        if o.get("scorecard")
    ]
    if badges:
        parts.append(f"Their own checks: {', '.join(badges)}.")
    if all(float(r) < PARTLY for r in scores.values()):
        parts.append("When methods disagree, trust the one whose check passes, or none of them.")
    return " ".join(parts)


def _verdict(receipt: Mapping[str, Any]) -> str:
    card = receipt.get("scorecard")
    if not card:
        return "This map was not checked (no scorecard in the receipt)."
    word = {"pass": "Pass", "warn": "Warning", "fail": "Fail"}[card["badge"]]
    text = f"**{word}**: {card['reason']}."
    curves = card.get("curves")
    if curves:
        text += (
            f" (Deletion AUC {curves['deletion_auc']:.2f} vs {curves['random_deletion_auc']:.2f} for random order; "
            f"insertion AUC {curves['insertion_auc']:.2f} vs {curves['random_insertion_auc']:.2f}; removed pixels "
            f"become the {card['baselines']} reference.)"
        )
    if card.get("randomisation") is not None:
        text += (
            f" With the model's last stage re-initialised, the map's rank correlation with itself is "
            f"{card['randomisation']:.2f} (near 0 means it depends on what the model learned)."
        )
    for note in card.get("notes", []):
        text += f" Also: {note}."
    return text


def _method_caveats(receipt: Mapping[str, Any]) -> list[str]:
    extras, out = receipt.get("extras") or {}, []
    if receipt["method"] == "gradcam" and extras.get("coarse") and extras.get("grid"):
        gh, gw = extras["grid"]
        out.append(
            f"{registry.label('gradcam', receipt.get('options'))} read a {gh}x{gw} grid here: it cannot point finer "
            f"than about 1/{min(gh, gw)} of the image. Check occlusion or integrated gradients before trusting where "
            "it points."
        )
    out += [str(n) for n in receipt.get("notes", []) if " read layer '" not in str(n)]  # the coarse grid, said above
    return out


def _footer(receipt: Mapping[str, Any]) -> str:
    model, image = receipt["model"], receipt["image"]
    revision = f" @ `{str(model['revision'])[:12]}`" if model.get("revision") else ""
    options = ", ".join(f"{k}={v}" for k, v in sorted(receipt["options"].items()))
    gallery = (receipt.get("similar") or {}).get("gallery")
    cases = f" · gallery sha256 `{str(gallery['sha256'])[:12]}`" if gallery else ""
    return (
        f"<sub>Model `{model['id']}`{revision} · weights sha256 `{str(model['weights_sha256'])[:12]}` · "
        f"{registry.label(receipt['method'], receipt['options'])} ({options}) · image sha256 "
        f"`{str(image['sha256'])[:12]}`{cases} · {receipt.get('created', '')}</sub>"
    )


def _percent(p: float) -> str:
    value = 100 * float(p)
    return f"{value:.0f}%" if value >= 1 or value == 0 else f"{value:.1g}%"


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"

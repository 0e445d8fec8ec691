"""A plain-language report of one explanation, from its receipt, by fixed templates (no language model)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import registry
from ..similar.sentence import report_sentence
from . import language as language_
from . import phrases, reasons, similar_text
from .evidence import region_name
from .phrases import num, pct, say
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
CAVEAT = phrases.EN["caveat"]
CLINICAL = phrases.EN["clinical"]


def report(receipt: Mapping[str, Any], *, others: Sequence[Mapping[str, Any]] = (), language: str | None = None) -> str:
    """Markdown report of one explanation: prediction and confidence, where the evidence is, agreement, verdict,
    caveats. The same receipt always gives the same text in a given language.

    Args:
        receipt: a receipt's ``to_dict`` (see receipt.build).
        others: receipts of other methods on the same image and target, to say whether they agree and pass.
        language: "en" or "es" (numbers formatted for it; anything else is English); None: the language the UI set
            for this request (language.using), else English.
    """
    lang = language_.resolve(language)
    method = _label(lang, receipt["method"], receipt.get("options"))
    target = receipt["target"]
    sections = [
        say(lang, "h_prediction")
        + "\n"
        + _prediction(receipt, lang)
        + (_contrast(receipt, lang) if target.get("contrast") else ""),
        say(lang, "h_where", method=method) + "\n" + _where(receipt, lang),
    ]
    believe = trust_sentence([receipt, *others], language=lang)
    if believe:
        sections.insert(1, say(lang, "h_believe") + "\n" + believe)
    agreement = _agreement(receipt, others, lang)
    if agreement:
        sections.append(say(lang, "h_agree") + "\n" + agreement)
    sections.append(say(lang, "h_trust") + "\n" + _verdict(receipt, lang))
    sections.append(say(lang, "h_read") + "\n" + "\n".join(f"- {line}" for line in how_to_read(receipt, language=lang)))
    if receipt.get("similar"):
        sections.append(say(lang, "h_similar") + "\n" + similar_text.say(report_sentence(receipt["similar"]), lang))
    caveats = [say(lang, "caveat"), *_method_caveats(receipt, lang)]
    if target["direction"] == "lowers":
        caveats.append(say(lang, "lowers", quantity=_quantity(target, lang)))
    sections.append(say(lang, "h_caveats") + "\n" + "\n".join(f"- {c}" for c in caveats))
    if is_medical(receipt, others):
        sections.append(say(lang, "clinical"))
    sections.append(_footer(receipt, lang))
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


def confidence_band(probability: float, language: str = "en") -> tuple[str, str]:
    """(band, advice) for a probability: confident / fairly confident / uncertain (in ``language``)."""
    key = _band_key(probability)
    return say(language_.normalise(language), f"band_{key}"), say(language_.normalise(language), f"advice_{key}")


def _band_key(probability: float) -> str:
    if probability > CONFIDENT:
        return "confident"
    if probability >= FAIRLY_CONFIDENT:
        return "fairly"
    return "uncertain"


def _prediction(receipt: Mapping[str, Any], lang: str) -> str:
    target, prediction = receipt["target"], receipt.get("prediction")
    if prediction is None:
        return say(lang, "raw", name=target["name"], score=num(receipt["score"], ".3g", lang))
    if prediction["task"] == "regression":
        values = {v["name"]: v for v in prediction["values"]}
        v = values.get(target["name"], prediction["values"][0])
        unit = f" {v['unit']}" if v.get("unit") else ""
        return say(lang, "regression", name=v["name"], value=_number(v["value"], lang), unit=unit)
    if prediction["task"] == "multilabel":
        labels = {item["name"]: item["probability"] for item in prediction["labels"]}
        p = labels.get(target["name"], 0.0)
        band, advice = confidence_band(p if p >= 0.5 else 1 - p, lang)
        verdict = say(lang, "present" if target["name"] in prediction.get("positive", []) else "absent")
        return say(
            lang,
            "multilabel",
            decision=prediction["decision"],
            name=target["name"],
            verdict=verdict,
            p=pct(p, lang),
            band=band,
            advice=advice,
        )
    top = prediction["top"]
    first, rest = top[0], top[1:]
    band, advice = confidence_band(first["probability"], lang)
    text = say(lang, "says", name=first["name"], p=pct(first["probability"], lang), band=band)
    if _band_key(first["probability"]) == "fairly" and rest:
        text += say(lang, "runner_up", name=rest[0]["name"], p=pct(rest[0]["probability"], lang))
    elif rest:
        others = ", ".join(f"{t['name']} ({pct(t['probability'], lang)})" for t in rest[:3])
        text += say(lang, "next", advice=advice, others=others)
    else:
        text += say(lang, "advice_only", advice=advice)
    if target["name"] != first["name"] and not target.get("contrast"):
        p = next((t["probability"] for t in top if t["name"] == target["name"]), None)
        shown = f" ({pct(p, lang)})" if p is not None else ""
        text += say(lang, "not_top", name=target["name"], shown=shown)
    return text


def _contrast(receipt: Mapping[str, Any], lang: str) -> str:
    target = receipt["target"]
    what = say(lang, "outputs" if target.get("kind") == "regression" else "logits")
    score = num(receipt["score"], ".3g", lang)
    return say(lang, "contrast", a=target["name"], b=target["contrast"], what=what, score=score)


def _quantity(target: Mapping[str, Any], lang: str) -> str:
    if target.get("contrast"):
        return say(lang, "rather", a=target["name"], b=target["contrast"])
    return str(target["name"])


def _where(receipt: Mapping[str, Any], lang: str) -> str:
    ev = receipt["evidence"]
    if ev["positive_share"] == 0:
        return say(lang, "where_none")
    area = say(lang, "area_half", area=pct(ev["area_half"], lang))
    share = pct(ev["main_share"], lang)
    main, peak = region_name(ev["main"], lang), region_name(ev["peak"], lang)
    if ev["main_share"] >= 0.5:
        text = say(lang, "where_most", share=share, region=main, area=area)
    elif ev["main_share"] > SPREAD:
        text = say(lang, "where_largest", share=share, region=main, area=area)
    elif ev["area_half"] <= SPREAD:
        text = say(lang, "where_around", region=peak, share=share, area=area)
    else:
        text = say(lang, "where_spread", share=share, area=area)
    if ev["peak"] != ev["main"] and ev["main_share"] > SPREAD:
        text += say(lang, "where_peak", region=peak)
    if ev["positive_share"] < 0.6:
        text += say(lang, "where_against", share=pct(1 - ev["positive_share"], lang))
    return text


def _agreement(receipt: Mapping[str, Any], others: Sequence[Mapping[str, Any]], lang: str) -> str:
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
    me = _label(lang, receipt["method"], receipt.get("options"))
    parts = []
    for name in sorted(scores):
        rho = float(scores[name])
        word = say(lang, "agrees" if rho >= AGREE else "partly_agrees" if rho >= PARTLY else "disagrees")
        parts.append(say(lang, "agreement", other=_label(lang, name), word=word, me=me, rho=num(rho, ".2f", lang)))
    badges = [
        f"{_label(lang, o['method'], o.get('options'))}: {say(lang, 'badge_' + o['scorecard']['badge'])}"
        for o in others
        if o.get("scorecard")
    ]
    if badges:
        parts.append(say(lang, "their_checks", badges=", ".join(badges)))
    if all(float(r) < PARTLY for r in scores.values()):
        parts.append(say(lang, "disagree_advice"))
    return " ".join(parts)


def _verdict(receipt: Mapping[str, Any], lang: str) -> str:
    card = receipt.get("scorecard")
    if not card:
        return say(lang, "unchecked")
    reason = reasons.say(card["reason"], lang)
    text = say(lang, "verdict", word=say(lang, f"verdict_{card['badge']}"), reason=reason)
    curves = card.get("curves")
    if curves:
        text += say(
            lang,
            "curves",
            deletion=num(curves["deletion_auc"], ".2f", lang),
            random_deletion=num(curves["random_deletion_auc"], ".2f", lang),
            insertion=num(curves["insertion_auc"], ".2f", lang),
            random_insertion=num(curves["random_insertion_auc"], ".2f", lang),
            baselines=phrases.baseline(card["baselines"], lang),
        )
    if card.get("randomisation") is not None:
        text += say(lang, "randomisation", rho=num(card["randomisation"], ".2f", lang))
    for note in card.get("notes", []):
        text += say(lang, "also", note=reasons.say(note, lang, "note"))
    return text


def _method_caveats(receipt: Mapping[str, Any], lang: str) -> list[str]:
    extras, out = receipt.get("extras") or {}, []
    if receipt["method"] == "gradcam" and extras.get("coarse") and extras.get("grid"):
        gh, gw = extras["grid"]
        method = _label(lang, "gradcam", receipt.get("options"))
        out.append(say(lang, "coarse", method=method, grid=f"{gh}x{gw}", cells=min(gh, gw)))
    out += [str(n) for n in receipt.get("notes", []) if " read layer '" not in str(n)]  # the coarse grid, said above
    return out


def _footer(receipt: Mapping[str, Any], lang: str) -> str:
    model, image = receipt["model"], receipt["image"]
    revision = f" @ `{str(model['revision'])[:12]}`" if model.get("revision") else ""
    options = ", ".join(f"{k}={v}" for k, v in sorted(receipt["options"].items()))
    gallery = (receipt.get("similar") or {}).get("gallery")
    cases = say(lang, "footer_gallery", gallery=str(gallery["sha256"])[:12]) if gallery else ""
    return say(
        lang,
        "footer",
        model=model["id"],
        revision=revision,
        weights=str(model["weights_sha256"])[:12],
        method=_label(lang, receipt["method"], receipt["options"]),
        options=options,
        image=str(image["sha256"])[:12],
        cases=cases,
        created=receipt.get("created", ""),
    )


def _label(lang: str, name: str, options: Mapping[str, Any] | None = None) -> str:
    return phrases.method(registry.label(name, options), lang)


def _number(value: float, lang: str) -> str:
    return num(value, ".3g", lang) if abs(value) < 100 else num(value, ".0f", lang)

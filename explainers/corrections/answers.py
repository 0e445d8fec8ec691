"""A visitor's answer in the model's own terms: one class, a set of labels, or every value (with its unit).

Messages follow explainers/options.py: what was expected, what was found, and how to write it.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CorrectionError
from ..similar.labels import label_key
from ..types import TaskInfo, TaskKind

MAX_ANSWER_CHARS = 1000  # far above any class list or value line; keeps a pasted essay out of the store
MAX_ABS_VALUE = 1e9  # regression values beyond this are typos (or attacks), never measurements
NONE_WORDS = ("none", "no labels", "no label", "nothing")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"
_VALUE_RE = re.compile(
    rf"^(?:(?P<name>[^=:]+?)\s*[=:]\s*)?(?P<value>{_NUM})\s*(?P<unit>[^\d\s=:][^=:]*?)?$", re.IGNORECASE
)
_SPLIT_LABELS = re.compile(r"[,;\n|]")
_SPLIT_VALUES = re.compile(r"[,;\n]")


@dataclass(frozen=True)
class Answer:
    """The right answer for one image, validated against the model's task.

    Attributes:
        task: the task kind it was read for.
        label: multiclass: the class, exactly as the model names it.
        labels: multilabel: every label that applies, in the model's output order (empty: none applies).
        values: regression: one finite value per output, in the model's output order and user units.
        units: regression: the unit of each value (the model's own).
    """

    task: TaskKind
    label: str | None = None
    labels: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    units: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The answer in words: "Shirt", "cat, dog" (or "none"), "calories = 250 kcal, mass = 200 g"."""
        if self.task == "multiclass":
            return str(self.label)
        if self.task == "multilabel":
            return ", ".join(self.labels) or "none"
        return ", ".join(f"{v:g} {u}".strip() for v, u in zip(self.values, self.units, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the task, the one field that carries the answer, and the text."""
        out: dict[str, Any] = {"task": self.task, "text": self.text}
        if self.task == "multiclass":
            out["label"] = self.label
        elif self.task == "multilabel":
            out["labels"] = list(self.labels)
        else:
            out["values"], out["units"] = list(self.values), list(self.units)
        return out


def hint(task: TaskInfo) -> str:
    """How to write an answer for this model, with its own names."""
    names = task.names
    if task.kind == "multiclass":
        return f"type the right class, e.g. {names[min(1, len(names) - 1)]!r} ({_known(names, 'class')})"
    if task.kind == "multilabel":
        pair = ", ".join(names[:2])
        return (
            f"type every label that applies, separated by commas, e.g. {pair!r}, or 'none' ({_known(names, 'label')})"
        )
    units = task.units or ("",) * len(names)
    named = ", ".join(f"{n} = <value> {u}".strip() for n, u in zip(names[:3], units[:3], strict=True))
    more = ", ..." if len(names) > 3 else ""
    return f"give all {len(names)} values with their units, e.g. '{named}{more}', or the numbers alone in that order"


def parse_answer(task: TaskInfo, text: Any) -> Answer:
    """Read what a visitor typed as the right answer for this model.

    Args:
        task: the model's task.
        text: multiclass: a class name ("Shirt"; case, spaces and punctuation may differ); multilabel: the labels
            that apply, separated by commas (or a JSON list), or "none"; regression: every output, named
            ("calories = 250 kcal, mass = 200 g") or in output order ("250 kcal, 200 g" / "250, 200").

    Raises:
        CorrectionError: not text, empty, too long, control characters, a name the model does not know, the wrong
            number of values, a value that is not a finite number, or a unit that is not the output's.
    """
    if not isinstance(text, str):
        raise CorrectionError(f"the answer must be text, got {type(text).__name__}; {hint(task)}")
    if len(text) > MAX_ANSWER_CHARS:
        raise CorrectionError(f"the answer is {len(text)} characters long, over the limit of {MAX_ANSWER_CHARS}")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\t\n\r" for c in text):
        raise CorrectionError("the answer holds control or invisible format characters; type it as plain text")
    spec = " ".join(text.split())
    if not spec:
        raise CorrectionError(f"no answer was given; {hint(task)}")
    if task.kind == "multiclass":
        return Answer("multiclass", label=_name(task, spec))
    if task.kind == "multilabel":
        return _labels(task, text, spec)
    return _values(task, text)


def answer_from_row(task: TaskInfo, row: Mapping[str, Any]) -> Answer:
    """An answer as an export's metadata row (or a stored record) holds it, checked again against this model.

    Args:
        task: the model the answer is used for (it may differ from the one it was given to).
        row: "label" (multiclass), "labels" (a list, multilabel) or "values" (a list, regression).

    Raises:
        CorrectionError: the row does not hold an answer this model's task can use.
    """
    if task.kind == "multiclass":
        label = row.get("label")
        if not isinstance(label, str):
            raise CorrectionError(f"no class in {_short(row)}; a multiclass answer needs 'label'")
        return Answer("multiclass", label=_name(task, label))
    if task.kind == "multilabel":
        labels = row.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise CorrectionError(f"no labels in {_short(row)}; a multilabel answer needs 'labels', a list of names")
        return _label_set(task, labels)
    values = row.get("values")
    if not isinstance(values, list) or len(values) != task.num_outputs:
        raise CorrectionError(
            f"expected 'values' with {task.num_outputs} numbers ({', '.join(task.names)}), in {_short(row)}"
        )
    return Answer(
        "regression",
        values=tuple(_finite(v, n) for v, n in zip(values, task.names, strict=True)),
        units=task.units or ("",) * task.num_outputs,
    )


def _labels(task: TaskInfo, text: str, spec: str) -> Answer:
    if spec.casefold() in NONE_WORDS and _lookup(task, spec) is None:
        return Answer("multilabel", labels=())
    if spec.startswith("["):
        try:
            items = json.loads(spec)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise CorrectionError(f"{_shown(spec)} is not a JSON list of label names; {hint(task)}")
        return _label_set(task, items)
    if _lookup(task, spec) is not None:  # one label whose name holds a comma
        return _label_set(task, [spec])
    return _label_set(task, [part for part in _SPLIT_LABELS.split(text) if part.strip()])


def _label_set(task: TaskInfo, items: Sequence[str]) -> Answer:
    indices = {task.names.index(_name(task, " ".join(item.split()))) for item in items}
    return Answer("multilabel", labels=tuple(task.names[i] for i in sorted(indices)))


def _values(task: TaskInfo, text: str) -> Answer:
    names, n = task.names, task.num_outputs
    units = task.units or ("",) * n
    clauses = [c.strip() for c in _SPLIT_VALUES.split(text) if c.strip()]
    if len(clauses) != n:
        raise CorrectionError(
            f"expected {n} value{'s' if n != 1 else ''} ({', '.join(names)}), got {len(clauses)}; {hint(task)}"
        )
    parsed = []
    for clause in clauses:
        match = _VALUE_RE.match(" ".join(clause.split()))
        if match is None:
            raise CorrectionError(f"could not read a number in {_shown(clause)}; {hint(task)}")
        parsed.append(match)
    named = [m["name"] is not None for m in parsed]
    if any(named) and not all(named):
        raise CorrectionError(f"name every value or none of them; {hint(task)}")
    order = [names.index(_name(task, m["name"], "output")) for m in parsed] if all(named) else list(range(n))
    repeated = sorted({names[i] for i in order if order.count(i) > 1})
    if repeated:
        raise CorrectionError(f"{', '.join(repeated)} is given more than once; give each output once")
    values = [0.0] * n
    for i, match in zip(order, parsed, strict=True):
        values[i] = _finite(match["value"], names[i])
        unit = (match["unit"] or "").strip()
        if unit and unit.casefold() != units[i].casefold():
            expected = units[i] or "no unit"
            raise CorrectionError(f"{names[i]} is measured in {expected}, got {_shown(unit)}; give it in {expected}")
    return Answer("regression", values=tuple(values), units=units)


def _finite(raw: Any, name: str) -> float:
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
        raise CorrectionError(
            f"{name} must be a finite number between {-MAX_ABS_VALUE:g} and {MAX_ABS_VALUE:g}, got {_shown(str(raw))}"
        )
    return value


def _lookup(task: TaskInfo, text: str) -> str | None:
    names = task.names
    if text in names:
        return text
    folded = [n for n in names if n.casefold() == text.casefold()]
    loose = [n for n in names if label_key(n) == label_key(text) and label_key(text)]
    for found in (folded, loose):
        if len(found) == 1:
            return found[0]
    return None


def _name(task: TaskInfo, text: str, what: str | None = None) -> str:
    found = _lookup(task, text.strip())
    if found is not None:
        return found
    what = what or {"multilabel": "label", "regression": "output"}.get(task.kind, "class")
    close = difflib.get_close_matches(text, task.names, n=3, cutoff=0.6)
    close += [n for n in task.names if text.casefold() in n.casefold() and n not in close][: 3 - len(close)]
    guess = f"; did you mean {', '.join(close)}?" if close and text.strip() else ""
    raise CorrectionError(f"this model has no {what} named {_shown(text)}{guess} ({_known(task.names, what)})")


def _known(names: Sequence[str], what: str) -> str:
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"its {len(names)} {what}{'es' if what == 'class' else 's'}: {shown}"


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _short(row: Mapping[str, Any]) -> str:
    return _shown(json.dumps(dict(row), default=str), 120)

"""Sentences other modules write in English, said in another language by reading their facts back.

A receipt keeps some sentences as English text (the scorecard's verdict, the similar-cases sentence). To say one in
Spanish it is matched against the templates its module writes (a Phrasebook's ``english``, word for word) and the same
facts fill the Spanish template. A sentence that matches no template (its module reworded, an old receipt) stays in
English: never a wrong translation. Tests run the modules' own sentences through the phrasebooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import language, phrases

NUMBER = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Phrasebook:
    """Templates of one module's sentences, in English and other languages, with the same placeholders.

    Attributes:
        families: the templates a placeholder of that name may hold (a sentence nests phrases), by key.
        english: key -> the module's own English template.
        translations: language -> key -> template.
        fields: what a placeholder matches (a regex); numbers by default.
        kinds: how a fact is rendered: "number" (default: same decimals, the language's separators), "text" (as it
            is, or its entry in ``words``), "method" (phrases.method), "count" (an integer with thousands separators).
        words: language -> fixed words a module writes as a fact ("no label") -> their translation.
    """

    families: dict[str, tuple[str, ...]]
    english: dict[str, str]
    translations: dict[str, dict[str, str]]
    fields: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    words: dict[str, dict[str, str]] = field(default_factory=dict)

    def say(self, text: str, lang: str, family: str) -> str:
        """``text``, one of ``family``'s sentences, in ``lang``; as it is when no template matches."""
        if lang not in self.translations:
            return text
        return self._translate(text, lang, family) or text

    def _translate(self, text: str, lang: str, family: str) -> str | None:
        for key in self.families[family]:
            match = _pattern(self.english[key], tuple(sorted(self.fields.items()))).fullmatch(text)
            if match is None:
                continue
            facts: dict[str, str] = {}
            for name, value in match.groupdict().items():
                fact = self._translate(value, lang, name) if name in self.families else self._fact(name, value, lang)
                if fact is None:
                    break
                facts[name] = fact
            else:
                return self.translations[lang][key].format(**facts)
        return None

    def _fact(self, name: str, value: str, lang: str) -> str:
        kind = self.kinds.get(name, "number")
        if kind == "text":
            return self.words.get(lang, {}).get(value, value)
        if kind == "method":
            return phrases.method(value, lang)
        if kind == "count":
            return language.number(float(value.replace(",", "")), ",.0f", lang)
        return language.number(float(value), f".{len(value.partition('.')[2])}f", lang)


_PATTERNS: dict[tuple[str, tuple[tuple[str, str], ...]], re.Pattern[str]] = {}


def _pattern(template: str, fields: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    key = (template, fields)
    if key not in _PATTERNS:
        parts, known, seen = re.split(r"\{(\w+)\}", template), dict(fields), set()
        regex = ""
        for i, part in enumerate(parts):
            if i % 2 == 0:
                regex += re.escape(part)
            elif part in seen:  # the same fact twice in one sentence: the same text both times
                regex += f"(?P={part})"
            else:
                seen.add(part)
                regex += f"(?P<{part}>{known.get(part, NUMBER)})"
        _PATTERNS[key] = re.compile(regex, re.DOTALL)
    return _PATTERNS[key]

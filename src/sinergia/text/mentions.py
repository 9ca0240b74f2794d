"""Mentions of configured names (competitors, products, theme keywords) in free text.

A dictionary maps a canonical name to its aliases: ``{"Zendesk": ["zendesk", "zen desk"], "Freshdesk": [...]}``.
Matching is case- and accent-insensitive ("São Paulo" matches "sao paulo") and on word boundaries ("Omie" does
not match "nomie"); whitespace inside an alias matches any run of whitespace. An alias ending in ``*`` matches
any word starting with it ("atras*" matches "atraso", "atrasou", "atrasado"). The canonical name always counts
as one of its own aliases. Spans refer to the original text (folding keeps positions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sinergia.errors import ConfigError
from sinergia.text.normalize import fold


@dataclass(frozen=True)
class Mention:
    """``name`` is mentioned at ``text[start:end]`` (``matched`` is that piece of the text)."""

    name: str
    start: int
    end: int
    matched: str


def _alias_pattern(alias: str) -> str:
    text = fold(alias.strip())
    prefix = text.endswith("*")
    words = text.rstrip("*").split()
    if not words:
        raise ConfigError(f"empty alias {alias!r} in the mention dictionary")
    body = r"\s+".join(re.escape(w) for w in words)
    return rf"(?<!\w){body}" + (r"\w*" if prefix else r"(?!\w)")


class MentionMatcher:
    """Find the names of a ``{name: [aliases]}`` dictionary in texts."""

    def __init__(self, dictionary: Mapping[str, Sequence[str]]) -> None:
        if not isinstance(dictionary, Mapping):
            raise ConfigError("a mention dictionary maps each name to a list of aliases")
        self.names = list(dictionary)
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for name, aliases in dictionary.items():
            if isinstance(aliases, str) or not isinstance(aliases, Sequence):
                raise ConfigError(f"aliases of {name!r} must be a list of strings")
            every = [str(name), *(str(a) for a in aliases)]
            # longest first, so "zen desk pro" wins over "zen desk" at the same position
            ordered = sorted({_alias_pattern(a) for a in every}, key=len, reverse=True)
            self._patterns.append((str(name), re.compile("|".join(ordered))))

    def find(self, text: str | None) -> list[Mention]:
        """Every mention in ``text`` in order of position (a name can appear several times)."""
        if not text:
            return []
        folded = fold(text)
        found = [
            Mention(name, m.start(), m.end(), text[m.start():m.end()])
            for name, pattern in self._patterns
            for m in pattern.finditer(folded)
        ]
        return sorted(found, key=lambda m: (m.start, m.name))

    def names_in(self, text: str | None) -> list[str]:
        """The distinct names mentioned in ``text``, in dictionary order."""
        present = {m.name for m in self.find(text)}
        return [n for n in self.names if n in present]

    def count(self, texts: Iterable[str | None]) -> dict[str, int]:
        """How many texts mention each name (a text counts once per name)."""
        counts = dict.fromkeys(self.names, 0)
        for text in texts:
            for name in self.names_in(text):
                counts[name] += 1
        return counts

"""PII redaction in free text: CPF, CNPJ, e-mail and phone numbers become tags such as ``[CPF]``.

Run it before text is stored, shown or used to train a model (a TF-IDF vocabulary would otherwise keep the
personal data it saw).

Decisions (see docs/text.md):

* **CPF / CNPJ written with their punctuation** (``123.456.789-09``, ``12.345.678/0001-95``) are redacted even
  when the check digits are wrong: the layout alone says "a document number", and a mistyped one is still
  personal data.
* **Bare digit runs** (``12345678909``, ``12345678000195``) are redacted as CPF / CNPJ only when the check digits
  are valid and the digits are not all equal. A random 11-digit number passes the CPF check with probability
  1/100, so order numbers, tracking codes and invoice numbers are mostly left alone.
* **Phones**: Brazilian numbers need an area code (DDD, two digits 1-9) or the mobile shape ``9XXXX-XXXX``:
  ``+55 (11) 91234-5678``, ``(11) 1234-5678``, ``11 91234-5678``, ``11912345678``, ``91234-5678``. International
  numbers need a leading ``+`` and 8 to 15 digits (E.164). A date (``2018-01-01``), a postcode (``01310-100``), a
  year range (``2018-2019``) or a price is not a phone.
* Where matches overlap the first kind in the order e-mail, CNPJ, CPF, phone wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAGS = {"email": "[EMAIL]", "cnpj": "[CNPJ]", "cpf": "[CPF]", "phone": "[PHONE]"}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w@])")
_NOT_BEFORE = r"(?<![\w.,/+-])"  # not inside a longer number, word, decimal or path
_NOT_AFTER = r"(?![\w/]|[.,-]\d)"
_CPF_PUNCT = re.compile(_NOT_BEFORE + r"\d{3}\.\d{3}\.\d{3}-\d{2}" + _NOT_AFTER)
_CNPJ_PUNCT = re.compile(_NOT_BEFORE + r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}" + _NOT_AFTER)
_CPF_BARE = re.compile(_NOT_BEFORE + r"\d{11}" + _NOT_AFTER)
_CNPJ_BARE = re.compile(_NOT_BEFORE + r"\d{14}" + _NOT_AFTER)
_DDD = r"[1-9]{2}"
_BR_PHONE = re.compile(
    r"(?<![\w+])(?:"
    rf"(?:\+55[\s.-]?)?\(\s?{_DDD}\s?\)[\s.-]?9?\d{{4}}[\s.-]?\d{{4}}"  # (11) 91234-5678, +55 (11) 1234 5678
    rf"|(?:\+55[\s.-]?)?{_DDD}[\s.-]9?\d{{4}}[\s.-]?\d{{4}}"  # 11 91234-5678, +55 11 1234-5678
    rf"|(?:\+?55)?{_DDD}9\d{{8}}"  # 11912345678, +5511912345678 (mobile, digits only)
    rf"|\+55{_DDD}[2-8]\d{{7}}"  # +551134567890 (landline, digits only, with the country code)
    r"|9\d{4}-\d{4}"  # 91234-5678 (mobile without area code)
    r")" + _NOT_AFTER
)
_INTL_PHONE = re.compile(r"(?<![\w+])\+[1-9][\d\s().-]{6,20}\d" + _NOT_AFTER)


@dataclass(frozen=True)
class PiiSpan:
    """One piece of personal data found in a text: ``text[start:end]`` is ``value``."""

    kind: str  # email | cnpj | cpf | phone
    start: int
    end: int
    value: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Redaction:
    """The redacted text and what was removed (spans refer to the original text)."""

    text: str
    spans: tuple[PiiSpan, ...]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for span in self.spans:
            out[span.kind] = out.get(span.kind, 0) + 1
        return out


def cpf_is_valid(digits: str) -> bool:
    """The CPF check digits (mod 11, weights 10..2 then 11..2) hold and not all digits are equal."""
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    numbers = [int(d) for d in digits]
    for position in (9, 10):
        total = sum(n * w for n, w in zip(numbers[:position], range(position + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if numbers[position] != check:
            return False
    return True


def cnpj_is_valid(digits: str) -> bool:
    """The CNPJ check digits (mod 11 with weights 5..2,9..2 then 6..2,9..2) hold and not all digits are equal."""
    if len(digits) != 14 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    numbers = [int(d) for d in digits]
    first, second = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
    for position, weights in ((12, first), (13, second)):
        remainder = sum(n * w for n, w in zip(numbers[:position], weights, strict=True)) % 11
        check = 0 if remainder < 2 else 11 - remainder
        if numbers[position] != check:
            return False
    return True


def _intl_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 8 <= len(digits) <= 15


def find_pii(text: str) -> list[PiiSpan]:
    """Every CPF, CNPJ, e-mail and phone number in ``text``, in order of position, without overlaps."""
    if not text:
        return []
    candidates: list[tuple[str, re.Pattern[str], object]] = [
        ("email", _EMAIL, None),
        ("cnpj", _CNPJ_PUNCT, None),
        ("cnpj", _CNPJ_BARE, cnpj_is_valid),
        ("cpf", _CPF_PUNCT, None),
        ("cpf", _CPF_BARE, cpf_is_valid),
        ("phone", _BR_PHONE, None),
        ("phone", _INTL_PHONE, _intl_ok),
    ]
    taken: list[PiiSpan] = []
    for kind, pattern, check in candidates:
        for match in pattern.finditer(text):
            value = match.group(0)
            if callable(check) and not check(value):
                continue
            start, end = match.span()
            if any(start < s.end and s.start < end for s in taken):
                continue
            taken.append(PiiSpan(kind, start, end, value))
    return sorted(taken, key=lambda s: s.start)


def redact(text: str, kinds: frozenset[str] | None = None) -> Redaction:
    """Replace personal data with tags (``[CPF]``, ``[CNPJ]``, ``[EMAIL]``, ``[PHONE]``).

    ``kinds`` limits the kinds redacted (default: all four). Spans refer to positions in the original ``text``.
    """
    spans = [s for s in find_pii(text) if kinds is None or s.kind in kinds]
    if not spans:
        return Redaction(text, ())
    parts: list[str] = []
    cursor = 0
    for span in spans:
        parts.append(text[cursor:span.start])
        parts.append(TAGS[span.kind])
        cursor = span.end
    parts.append(text[cursor:])
    return Redaction("".join(parts), tuple(spans))


def redact_text(text: str) -> str:
    """Just the redacted text (see :func:`redact`)."""
    return redact(text).text

"""Typed values read from a message: decimal strings and ISO 8601 dates, with reasons when they fail.

Each converter returns the canonical string or raises `ValueProblem` with a reason a person
can read ("not a number", "no date format code 999").
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache


class ValueProblem(ValueError):
    """A value that is not of its field's type; str() is the reason."""


def to_decimal(value: str, decimal_mark: str = ".", standard: str | None = None) -> str:
    """A decimal string with "." as the mark, the digits otherwise kept exactly as sent.

    "12,5" with mark "," → "12.5"; "1.000" stays "1.000"; "0008" stays "0008" (the document
    says what the partner sent; consumers read it with `Decimal`). EDIFACT allows both the comma
    and the full stop as decimal mark whatever UNA says (ISO 9735), so both are accepted there.
    Thousands separators, exponents, blanks inside and anything else are not numbers.
    """
    marks, pattern, digit_marks = _number_syntax(decimal_mark, standard == "edifact")
    text = value.strip()
    # Past the pattern, a digit is an ASCII one, or a decimal mark that is itself a digit.
    if not pattern.match(text) or not (_ASCII_DIGIT.search(text) or (digit_marks and any(ch.isdigit() for ch in text))):
        raise ValueProblem("not a number")
    for mark in marks:
        text = text.replace(mark, ".")
    return text


_ASCII_DIGIT = re.compile("[0-9]")


@lru_cache(maxsize=None)
def _number_syntax(decimal_mark: str, either_mark: bool) -> tuple[tuple[str, ...], re.Pattern, bool]:
    """The decimal marks other than "." that a number may hold, the pattern of a number, and
    whether a mark is a digit (str.isdigit) itself."""
    marks = {decimal_mark} | ({",", "."} if either_mark else set())
    pattern = re.compile("^[+-]?[0-9]*(?:[" + re.escape("".join(sorted(marks))) + "][0-9]*)?$")
    return tuple(sorted(marks - {"."})), pattern, any(mark.isdigit() for mark in marks)


# Date formats: EDIFACT 2379 codes, X12 names, each as a strptime pattern.
DATE_FORMATS: dict[str, str] = {
    "101": "%y%m%d",
    "102": "%Y%m%d",
    "201": "%y%m%d%H%M",
    "202": "%y%m%d%H%M%S",
    "203": "%Y%m%d%H%M",
    "204": "%Y%m%d%H%M%S",
    "CCYYMMDD": "%Y%m%d",
    "YYMMDD": "%y%m%d",
    "D8": "%Y%m%d",
    "DT": "%Y%m%d%H%M",
    "CCYYMMDDHHMM": "%Y%m%d%H%M",
}


def known_format(name: str) -> bool:
    """True when `name` is a format code above or a strptime pattern (it contains "%")."""
    return name in DATE_FORMATS or "%" in name


@lru_cache(maxsize=4096)  # the dates of a file repeat, and strptime is slow; the answer is the same
def to_date(value: str, format_name: str) -> str:
    """ISO 8601: a date ("2023-06-06") or, when the format has a time, "2023-06-06T14:30[:05]"."""
    if format_name in DATE_FORMATS:
        pattern = DATE_FORMATS[format_name]
    elif "%" in format_name:
        pattern = format_name
    else:
        raise ValueProblem(f"no date format code {format_name}")
    text = value.strip()
    try:
        parsed = datetime.strptime(text, pattern)
    except ValueError:
        raise ValueProblem(f"not a date in format {format_name}") from None
    # strptime accepts "202366" for %Y%m%d; a date must be written in full to be trusted.
    if parsed.strftime(pattern).lower() != text.lower():
        raise ValueProblem(f"not a date in format {format_name}")
    if "%S" in pattern:
        return parsed.isoformat(timespec="seconds")
    if "%H" in pattern or "%M" in pattern:
        return parsed.isoformat(timespec="minutes")
    return parsed.date().isoformat()

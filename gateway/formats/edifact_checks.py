"""Value checks on the few EDIFACT segments whose layout is the same in every directory.

Messages with a definition (gateway/formats/definitions) are checked by it; for them only the
NAD checks no definition can express (placeholders, GLNs) are made here. Messages without one
(APERAK, IFTMIN, …) get all the checks below.

The parser knows no message directory, but DTM, QTY, MOA, PRI, NAD and IMD keep their first
data elements from D.93A to today, and bad values there (a quantity "1020A", a date
"19999715", a qualifier "BYZZ", a party id left as "<Supplier GLN>") are what breaks a
translation later with a far less clear reason. Only what is wrong in every directory is an
error; what real partners do send (a GLN qualifier on a non-GLN id, a date longer than its
format) is a warning.
"""

from __future__ import annotations

import datetime
import re
from typing import Callable, Sequence

from gateway.formats.model import Issue, Severity

Elements = Sequence[Sequence[Sequence[str]]]
Problem = tuple[Severity, str]

NUMBER = re.compile(r"-?(\d+([.,]\d*)?|[.,]\d+)")
GLN = re.compile(r"\d{13}")
PLACEHOLDER = re.compile(r"<[^<>]*>|\{\{.*\}\}|\$\{.*\}")

# Date/time format qualifiers (code list 2379) → strptime patterns of their values.
DATE_FORMATS = {
    "101": "%y%m%d",
    "102": "%Y%m%d",
    "201": "%y%m%d%H%M",
    "203": "%Y%m%d%H%M",
    "204": "%Y%m%d%H%M%S",
}
PERIOD_FORMATS = {"718": "%Y%m%d"}  # CCYYMMDD-CCYYMMDD


def _value(elements: Elements, element: int, component: int = 1) -> str:
    try:
        return elements[element - 1][0][component - 1]
    except IndexError:
        return ""


def _components(elements: Elements, element: int) -> int:
    try:
        return len(elements[element - 1][0])
    except IndexError:
        return 0


def _qualifier(tag: str, elements: Elements, name: str) -> list[Problem]:
    value = _value(elements, 1)
    if len(value) > 3:
        return [("error", f"{tag}01 ({name}) {value!r} is longer than a code may be (3 characters)")]
    return []


def _number(tag: str, elements: Elements, name: str) -> list[Problem]:
    value = _value(elements, 1, 2)
    if value and not NUMBER.fullmatch(value):
        return [("error", f"{tag}01.2 ({name}) {value!r} is not a number")]
    return []


def check_dtm(elements: Elements) -> list[Problem]:
    value, form = _value(elements, 1, 2), _value(elements, 1, 3)
    if form and not value:
        return [("error", f"DTM01.2 (date/time) is empty although its format {form} is given")]
    if not value:
        return []
    if form in DATE_FORMATS:
        pattern = DATE_FORMATS[form]
        length = len(datetime.datetime(2000, 1, 1).strftime(pattern))
        if not _fits(value[:length], pattern):
            return [("error", f"DTM01.2 (date/time) {value!r} is not a valid date in format {form}")]
        if len(value) != length:
            return [("warning", f"DTM01.2 (date/time) {value!r} is longer than format {form} allows")]
    elif form in PERIOD_FORMATS:
        start, _, end = value.partition("-")
        if not (_fits(start, PERIOD_FORMATS[form]) and _fits(end, PERIOD_FORMATS[form])):
            return [("error", f"DTM01.2 (period) {value!r} is not a valid period in format {form}")]
    return []


def _fits(value: str, pattern: str) -> bool:
    try:
        parsed = datetime.datetime.strptime(value, pattern)
    except ValueError:
        return False
    return parsed.strftime(pattern) == value  # strptime accepts "2005829" for %Y%m%d


def check_qty(elements: Elements) -> list[Problem]:
    return _qualifier("QTY", elements, "quantity qualifier") + _number(
        "QTY", elements, "quantity"
    )


def check_moa(elements: Elements) -> list[Problem]:
    return _qualifier("MOA", elements, "amount qualifier") + _number(
        "MOA", elements, "monetary amount"
    )


def check_pri(elements: Elements) -> list[Problem]:
    return _qualifier("PRI", elements, "price qualifier") + _number("PRI", elements, "price")


def check_nad(elements: Elements) -> list[Problem]:
    problems = _qualifier("NAD", elements, "party qualifier")
    party, agency = _value(elements, 2, 1), _value(elements, 2, 3)
    if PLACEHOLDER.fullmatch(party):
        problems.append(("error", f"NAD02.1 (party id) {party!r} is an unfilled template placeholder"))
    elif agency == "9" and party and not GLN.fullmatch(party):
        problems.append(
            ("warning", f"NAD02.1 (party id) {party!r} is not a 13-digit GLN though agency 9 says so")
        )
    return problems


def check_imd(elements: Elements) -> list[Problem]:
    # C273 has 5 components up to D.01A and 6 (language added) later; more is never valid.
    count = _components(elements, 3)
    if count > 6:
        return [
            (
                "error",
                f"IMD03 (item description) has {count} components, at most 6 are allowed "
                "(a ':' in the text that should have been released as '?:')",
            )
        ]
    return []


def check_party(elements: Elements) -> list[Problem]:
    """What a definition cannot say of NAD: an unfilled placeholder, a GLN that is none."""
    return [problem for problem in check_nad(elements) if "code may be" not in problem[1]]


DEFINED_CHECKS: dict[str, Callable[[Elements], list[Problem]]] = {"NAD": check_party}
# A qualifier longer than 3 characters and 7 components in IMD are wrong in every directory,
# so they stay errors where another directory's definition would only warn.
BORROWED_CHECKS: dict[str, Callable[[Elements], list[Problem]]] = {
    "NAD": check_nad,
    "IMD": check_imd,
    "QTY": lambda elements: _qualifier("QTY", elements, "quantity qualifier"),
    "MOA": lambda elements: _qualifier("MOA", elements, "amount qualifier"),
    "PRI": lambda elements: _qualifier("PRI", elements, "price qualifier"),
}

CHECKS: dict[str, Callable[[Elements], list[Problem]]] = {
    "DTM": check_dtm,
    "QTY": check_qty,
    "MOA": check_moa,
    "PRI": check_pri,
    "NAD": check_nad,
    "IMD": check_imd,
}


def check_segment(tag: str, elements: Elements, position: int, *, defined: bool = False,
                  borrowed: bool = False) -> list[Issue]:
    """The value problems of one message segment, as message errors at its position.

    `defined`: the message has a definition, which checks representations, lengths, dates and
    components (gateway.formats.validation); only what no definition says is checked here.
    `borrowed`: the definition is another directory's, whose findings on components are only
    warnings; what is wrong in every directory (IMD) is still an error here.
    """
    checks = CHECKS if not defined else BORROWED_CHECKS if borrowed else DEFINED_CHECKS
    check = checks.get(tag)
    if check is None:
        return []
    return [
        Issue(reason, position=position, tag=tag, severity=severity)
        for severity, reason in check(elements)
    ]


def check_party_id(role: str, party: str | None, qualifier: str | None) -> Problem | None:
    """A UNB sender/recipient must be filled in, and with qualifier 14 (GS1) be a GLN."""
    if party is None:
        return None
    if PLACEHOLDER.fullmatch(party):
        return ("error", f"UNB {role} {party!r} is an unfilled template placeholder")
    if qualifier == "14" and not GLN.fullmatch(party):
        return ("warning", f"UNB {role} {party!r} is not a 13-digit GLN though its qualifier 14 says so")
    return None

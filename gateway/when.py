"""Points in time as operators type them: `2026-11-01`, `2026-11-01T08:00`, `yesterday`, `2h`, `7d`.

A date or time without a zone is taken as UTC, the zone the store and the tables use.
Relative forms count back from now: `30m`, `2h`, `7d`, `2w`; `today` and `yesterday` are
midnight UTC. Anything else is a ValueError whose text says what is accepted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
ACCEPTED = "a date or time (2026-11-01, 2026-11-01T08:00, UTC unless a zone is given), today, yesterday, now, " \
           "or an age such as 30m, 2h, 7d, 2w"


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """The moment `text` names, as an aware UTC datetime."""
    now = now or datetime.now(timezone.utc)
    word = text.strip().lower()
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "now":
        return now
    if word == "today":
        return midnight
    if word == "yesterday":
        return midnight - timedelta(days=1)
    age = re.fullmatch(r"(\d+)\s*([smhdw])", word)
    if age:
        return now - timedelta(**{UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use {ACCEPTED}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)

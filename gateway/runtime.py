"""The daemon's live state, for its health and metrics endpoints: when it started, each channel's polls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ChannelState:
    """One channel's polls as this process saw them (times in UTC)."""

    name: str
    partner: str
    interval_seconds: float
    last_poll: datetime | None = None
    last_success: datetime | None = None
    errors: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict:
        return {"channel": self.name, "partner": self.partner, "interval_seconds": self.interval_seconds,
                "last_poll": self.last_poll.isoformat() if self.last_poll else None,
                "last_success": self.last_success.isoformat() if self.last_success else None,
                "errors": self.errors, "last_error": self.last_error}


@dataclass
class Runtime:
    """Shared by the worker, the scheduler's threads and the web server's: every change holds the lock."""

    started_at: datetime = field(default_factory=_now)
    channels: dict[str, ChannelState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_channel(self, name: str, partner: str, interval_seconds: float) -> None:
        with self._lock:
            self.channels.setdefault(name, ChannelState(name, partner, interval_seconds))

    def polled(self, name: str, error: str | None = None) -> None:
        """A poll of channel `name` ended, well (no error) or not."""
        with self._lock:
            state = self.channels.get(name)
            if state is None:
                return
            state.last_poll = _now()
            if error is None:
                state.last_success = state.last_poll
            else:
                state.errors += 1
                state.last_error = error

    def snapshot(self) -> list[ChannelState]:
        with self._lock:
            return [ChannelState(**vars(state)) for state in self.channels.values()]

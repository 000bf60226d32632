"""Lanes: each partner's work in order on one worker at a time, different partners side by side.

The daemon hands a partner's turn (process its received files, deliver, acknowledge, send) to a
small pool of threads (`[processing] workers`). A partner has one lane: its turns never overlap,
so its files are taken in the order they came and nothing of it is handled twice in this
process; a turn asked for while one is running runs once more after it. A slow file holds only
its own partner's lane; the other workers go on with the other partners. Scheduled jobs that
work on one partner's records (its documents from Odoo, its demand signals, its late documents)
take that partner's lane too (`holding`), so they never run beside its turn.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

from loguru import logger


class Lanes:
    def __init__(self, workers: int, turn: Callable[[str], object]) -> None:
        self._turn = turn
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="edigw-worker")
        self._state = threading.Condition()
        self._queued: set[str] = set()  # partners with a turn asked for and not finished
        self._again: set[str] = set()  # asked for again while their turn was running
        self._held: set[str] = set()  # partners whose lane is in use now (a turn or a job)

    def ask(self, partner: str) -> None:
        """Have the partner's turn run: on the next free worker, or once more after the one running."""
        with self._state:
            if partner in self._queued:
                self._again.add(partner)
                return
            self._queued.add(partner)
        self._pool.submit(self._run, partner)

    def _run(self, partner: str) -> None:
        while True:
            with self._state:
                self._again.discard(partner)
            try:
                with self.holding(partner):
                    self._turn(partner)
            except Exception:  # a bug or a store failure must not end the worker; the next turn tries again
                logger.exception("{}: processing failed; it is tried again at the next turn", partner)
            with self._state:
                if partner not in self._again:
                    self._queued.discard(partner)
                    self._state.notify_all()
                    return

    @contextmanager
    def holding(self, partner: str) -> Iterator[None]:
        """The partner's lane for the block: waits for its turn in hand to end, and holds the next one."""
        with self._state:
            self._state.wait_for(lambda: partner not in self._held)
            self._held.add(partner)
        try:
            yield
        finally:
            with self._state:
                self._held.discard(partner)
                self._state.notify_all()

    def idle(self, timeout: float | None = None) -> bool:
        """Whether every turn asked for has ended (waiting up to `timeout` seconds for it)."""
        with self._state:
            return self._state.wait_for(lambda: not self._queued, timeout)

    def close(self) -> None:
        """Let the turns in hand end (the pipeline stops at a message boundary), drop those not begun."""
        self._pool.shutdown(wait=True, cancel_futures=True)

"""Control numbers: per partner, standard and kind; persisted; never reused, under concurrent senders and crashes.

Policy (gateway/outbound.py): numbers are allocated in the transaction that records the exchange
using them; a transaction that rolls back gives them back (nothing recorded used them), one that
commits keeps them for good. Gaps are allowed, reuse never.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from gateway.outbound import ControlNumbersExhausted, allocate
from gateway.store.db import open_store
from gateway.store.models import ControlNumber
from conftest import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'edigw.db'}"
        return
    with postgres_database("edigw_cn") as url:
        yield url


def take(store, partner="acme", standard="edifact", kind="interchange", count=1) -> int:
    with store.session() as session:
        return allocate(session, partner, standard, kind, count)


def test_numbers_start_at_one_and_follow_each_other(store_url):
    store = open_store(store_url)
    assert [take(store) for _ in range(3)] == [1, 2, 3]
    assert take(store, count=5) == 4
    assert take(store) == 9
    store.close()


def test_each_partner_standard_and_kind_counts_on_its_own(store_url):
    store = open_store(store_url)
    take(store)
    take(store)
    assert take(store, partner="bigbox") == 1
    assert take(store, standard="x12") == 1
    assert take(store, kind="group") == 1
    assert take(store, kind="message") == 1
    assert take(store) == 3
    store.close()


def test_numbers_persist_across_restarts(store_url):
    store = open_store(store_url)
    take(store)
    take(store)
    store.close()
    again = open_store(store_url)
    assert take(again) == 3
    again.close()


def test_a_crash_before_commit_reuses_nothing_that_was_recorded(store_url):
    """The numbers of a rolled-back transaction were recorded nowhere: the next one may take them."""
    store = open_store(store_url)
    assert take(store) == 1
    with pytest.raises(RuntimeError):
        with store.session() as session:
            assert allocate(session, "acme", "edifact", "interchange") == 2
            raise RuntimeError("the process dies before the exchange is committed")
    assert take(store) == 2  # nothing committed used 2
    assert take(store) == 3
    store.close()


def test_concurrent_senders_in_threads_never_share_a_number(store_url):
    store = open_store(store_url)
    taken: list[int] = []
    lock = threading.Lock()

    def sender() -> None:
        for _ in range(25):
            number = take(store)
            with lock:
                taken.append(number)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1, 201))
    store.close()


def _process_sender(url: str, count: int, queue) -> None:
    store = open_store(url)
    numbers = [take(store, partner="proc") for _ in range(count)]
    store.close()
    queue.put(numbers)


def test_concurrent_sender_processes_never_share_a_number(store_url):
    open_store(store_url).close()  # migrated once, before the processes race
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_process_sender, args=(store_url, 20, queue)) for _ in range(4)]
    for process in processes:
        process.start()
    found = [number for _ in processes for number in queue.get(timeout=120)]
    for process in processes:
        process.join(timeout=60)
    assert sorted(found) == list(range(1, 81))


def test_numbers_are_never_wrapped_around_at_the_end_of_their_range(store_url):
    store = open_store(store_url)
    take(store, standard="x12")
    with store.session() as session:
        row = session.query(ControlNumber).filter_by(partner="acme", standard="x12").one()
        row.next_value = 999_999_999
    assert take(store, standard="x12") == 999_999_999
    with pytest.raises(ControlNumbersExhausted):
        take(store, standard="x12")
    store.close()

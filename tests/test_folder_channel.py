"""The folder channel against real folders and a real watchdog observer."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from gateway_fixtures import BIG_FILE, WELL_BELOW, heap_peak
from watchdog.events import EVENT_TYPE_CREATED, EVENT_TYPE_MOVED, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from gateway.channels.base import ChannelError, ClaimedFile, UnsafeFileName
from gateway.channels.folder import FolderChannel

SETTLE = 0.2


def drop(folder: Path, name: str, data: bytes = b"UNA:+.? '", age: float = 10.0) -> Path:
    """A complete file, its mtime `age` seconds in the past (as if it arrived a while ago)."""
    path = folder / name
    path.write_bytes(data)
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def channel(tmp_path: Path, **options) -> FolderChannel:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    options.setdefault("settle_seconds", SETTLE)
    return FolderChannel(name="acme-inbox", inbox=inbox, **options)


def names(claims: list[ClaimedFile]) -> list[str]:
    return sorted(claimed.original_name for claimed in claims)


def test_files_present_at_start_are_found(tmp_path):
    inbox_channel = channel(tmp_path)
    drop(inbox_channel.inbox, "po-1.edi")
    drop(inbox_channel.inbox, "po-2.edi")

    assert names(list(inbox_channel.scan())) == ["po-1.edi", "po-2.edi"]


def test_a_file_written_slowly_is_not_claimed_until_it_settles(tmp_path):
    inbox_channel = channel(tmp_path, settle_seconds=0.3)
    path = inbox_channel.inbox / "slow.edi"
    parts = [b"UNB+UNOC:3+SENDER+RECEIVER'", b"UNH+1+ORDERS:D:96A:UN'", b"BGM+220+PO1'", b"UNT+3+1'", b"UNZ+1+1'"]

    with open(path, "wb") as writer:
        for part in parts:  # written over 0.5 s, more than the settle time, never pausing 0.3 s
            writer.write(part)
            writer.flush()
            assert list(inbox_channel.scan()) == []
            time.sleep(0.1)
    assert list(inbox_channel.scan()) == []  # the last part is fresh

    time.sleep(0.35)
    [claimed] = list(inbox_channel.scan())
    assert claimed.size == len(b"".join(parts))
    assert claimed.path.read_bytes() == b"".join(parts)


def test_a_file_first_seen_with_a_fresh_mtime_waits_for_the_next_scan(tmp_path):
    inbox_channel = channel(tmp_path)
    drop(inbox_channel.inbox, "new.edi", age=0)

    assert list(inbox_channel.scan()) == []
    time.sleep(SETTLE + 0.05)
    assert names(list(inbox_channel.scan())) == ["new.edi"]


@pytest.mark.parametrize(
    "name",
    [".hidden.edi", "po.edi.tmp", "po.edi.part", "po.edi.filepart", "PO.EDI.PART", "po.edi.reason.txt",
     "po.edi.processing"],
)
def test_files_in_transit_hidden_or_our_own_are_ignored(tmp_path, name):
    inbox_channel = channel(tmp_path)
    drop(inbox_channel.inbox, name)
    drop(inbox_channel.inbox, "order.edi")

    assert names(list(inbox_channel.scan())) == ["order.edi"]
    assert (inbox_channel.inbox / name).exists()


def test_sub_folders_are_not_scanned(tmp_path):
    inbox_channel = channel(tmp_path)
    processed = inbox_channel.inbox / "processed"
    processed.mkdir()
    drop(processed, "old.edi")

    assert list(inbox_channel.scan()) == []
    assert (processed / "old.edi").exists()


def test_a_symlink_in_the_inbox_is_never_followed(tmp_path):
    inbox_channel = channel(tmp_path)
    secret = drop(tmp_path, "secret.txt", b"not for partners")
    (inbox_channel.inbox / "link.edi").symlink_to(secret)

    assert list(inbox_channel.scan()) == []
    assert secret.read_bytes() == b"not for partners"
    # never followed: the link itself is moved out of the way and reported once (issue 13, item 10)
    assert (inbox_channel.failed_dir / "link.edi").is_symlink()
    assert [name for name, _ in inbox_channel.refusals()] == ["link.edi"]


def test_only_files_matching_the_patterns_are_claimed_whatever_their_case(tmp_path):
    inbox_channel = channel(tmp_path, patterns=("*.edi", "*.x12"))
    for name in ("a.edi", "B.EDI", "c.x12", "d.csv", "readme"):
        drop(inbox_channel.inbox, name)

    assert names(list(inbox_channel.scan())) == ["B.EDI", "a.edi", "c.x12"]


def test_a_claim_renames_the_file_to_processing_before_it_is_read(tmp_path):
    inbox_channel = channel(tmp_path)
    data = b"ISA*00*          *00*" * 100
    drop(inbox_channel.inbox, "850.x12", data)

    [claimed] = list(inbox_channel.scan())

    assert claimed.path == inbox_channel.inbox / "850.x12.processing"
    assert claimed.original_name == "850.x12"
    assert claimed.size == len(data)
    assert claimed.channel == "acme-inbox"
    assert sorted(os.listdir(inbox_channel.inbox)) == ["850.x12.processing"]
    with inbox_channel.open(claimed) as stream:
        assert stream.read() == data


def test_open_refuses_a_symlink_swapped_in_after_the_claim(tmp_path):
    inbox_channel = channel(tmp_path)
    secret = drop(tmp_path, "secret.txt", b"not for partners")
    drop(inbox_channel.inbox, "po.edi")
    [claimed] = list(inbox_channel.scan())
    claimed.path.unlink()
    claimed.path.symlink_to(secret)

    with pytest.raises(ChannelError, match="po.edi.processing"):
        inbox_channel.open(claimed)


def test_an_oversized_file_is_still_handed_out_with_its_size(tmp_path):
    inbox_channel = channel(tmp_path, max_size=10)
    drop(inbox_channel.inbox, "big.edi", b"x" * 11)

    [claimed] = list(inbox_channel.scan())
    assert claimed.size == 11


def test_two_channels_scanning_concurrently_claim_each_file_exactly_once(tmp_path):
    first, second = channel(tmp_path), channel(tmp_path)
    expected = [f"po-{number:03}.edi" for number in range(300)]
    for name in expected:
        drop(first.inbox, name)
    start = threading.Barrier(2)
    claims: dict[int, list[str]] = {0: [], 1: []}

    def work(index: int, scanner: FolderChannel) -> None:
        start.wait()
        for _ in range(3):
            claims[index].extend(claimed.original_name for claimed in scanner.scan())

    threads = [threading.Thread(target=work, args=(index, scanner)) for index, scanner in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(claims[0] + claims[1]) == expected
    assert not set(claims[0]) & set(claims[1])


def _claim_in_another_process(inbox: str, start, results) -> None:
    scanner = FolderChannel(name="acme-inbox", inbox=Path(inbox), settle_seconds=SETTLE)
    start.wait()
    claimed = []
    for _ in range(3):
        claimed.extend(item.original_name for item in scanner.scan())
    results.put(claimed)


def test_two_processes_scanning_the_same_inbox_claim_each_file_exactly_once(tmp_path):
    inbox = channel(tmp_path).inbox
    expected = [f"po-{number:04}.edi" for number in range(1000)]
    for name in expected:
        drop(inbox, name)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_claim_in_another_process, args=(str(inbox), start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    claims = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert sorted(claims[0] + claims[1]) == expected
    assert not set(claims[0]) & set(claims[1])


def test_done_moves_the_file_to_processed_without_overwriting_an_earlier_one(tmp_path):
    inbox_channel = channel(tmp_path, processed_dir=tmp_path / "processed")
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "po.edi").write_bytes(b"yesterday")
    drop(inbox_channel.inbox, "po.edi", b"today")

    [claimed] = list(inbox_channel.scan())
    destination = inbox_channel.done(claimed)

    assert (tmp_path / "processed" / "po.edi").read_bytes() == b"yesterday"
    assert destination.parent == tmp_path / "processed"
    assert destination.name.startswith("po.") and destination.name.endswith(".edi")
    assert destination.read_bytes() == b"today"
    assert sorted(os.listdir(tmp_path / "processed")) == sorted(["po.edi", destination.name])
    assert os.listdir(inbox_channel.inbox) == []


def test_done_creates_processed_inside_the_inbox_by_default(tmp_path):
    inbox_channel = channel(tmp_path)
    drop(inbox_channel.inbox, "po.edi", b"today")

    [claimed] = list(inbox_channel.scan())
    inbox_channel.done(claimed)

    assert (inbox_channel.inbox / "processed" / "po.edi").read_bytes() == b"today"
    assert list(inbox_channel.scan()) == []


def test_done_in_delete_mode_removes_the_file(tmp_path):
    inbox_channel = channel(tmp_path, after="delete", processed_dir=tmp_path / "processed")
    drop(inbox_channel.inbox, "po.edi")

    [claimed] = list(inbox_channel.scan())
    assert inbox_channel.done(claimed) is None

    assert os.listdir(inbox_channel.inbox) == []
    assert not (tmp_path / "processed").exists()


def test_fail_moves_the_file_to_failed_and_writes_the_reason_beside_it(tmp_path):
    inbox_channel = channel(tmp_path, failed_dir=tmp_path / "failed")
    drop(inbox_channel.inbox, "po.edi", b"\x00\x01junk")

    [claimed] = list(inbox_channel.scan())
    destination = inbox_channel.fail(claimed, "cannot read: I/O error")

    assert destination == tmp_path / "failed" / "po.edi"
    assert destination.read_bytes() == b"\x00\x01junk"
    reason = (tmp_path / "failed" / "po.edi.reason.txt").read_text()
    assert "cannot read: I/O error" in reason
    assert "acme-inbox" in reason
    assert os.listdir(inbox_channel.inbox) == []


def test_moved_names_come_from_the_partners_base_name_only(tmp_path):
    inbox_channel = channel(tmp_path, failed_dir=tmp_path / "failed")
    inside = tmp_path / "inbox" / "po.edi.processing"
    inside.write_bytes(b"data")
    forged = ClaimedFile(path=inside, original_name="../../escaped.edi", size=4, channel="acme-inbox", mtime=0.0)

    destination = inbox_channel.fail(forged, "test")

    assert destination == tmp_path / "failed" / "escaped.edi"
    assert not (tmp_path.parent / "escaped.edi").exists()


def test_recover_hands_out_files_claimed_before_a_crash(tmp_path):
    inbox_channel = channel(tmp_path)
    drop(inbox_channel.inbox, "po.edi.processing", b"half done")
    drop(inbox_channel.inbox, "new.edi", b"new")

    [recovered] = list(inbox_channel.recover())
    assert recovered.original_name == "po.edi"
    assert recovered.path == inbox_channel.inbox / "po.edi.processing"
    assert recovered.size == len(b"half done")
    assert names(list(inbox_channel.scan())) == ["new.edi"]


def test_a_new_file_does_not_replace_an_earlier_one_of_the_same_name_still_in_hand(tmp_path):
    inbox_channel = channel(tmp_path)
    drop(inbox_channel.inbox, "po.edi", b"first")
    [first] = list(inbox_channel.scan())
    drop(inbox_channel.inbox, "po.edi", b"second")

    assert list(inbox_channel.scan()) == []
    assert first.path.read_bytes() == b"first"
    inbox_channel.done(first)
    [second] = list(inbox_channel.scan())
    assert second.path.read_bytes() == b"second"


def test_a_missing_inbox_is_a_channel_error_naming_it(tmp_path):
    missing = FolderChannel(name="acme-inbox", inbox=tmp_path / "nowhere")

    with pytest.raises(ChannelError, match="nowhere"):
        list(missing.scan())


def test_watch_calls_back_within_a_second_of_a_new_file(tmp_path):
    inbox_channel = channel(tmp_path)
    called = threading.Event()
    observer = inbox_channel.watch(called.set)
    try:
        time.sleep(0.1)
        (inbox_channel.inbox / "po.edi").write_bytes(b"UNA")
        assert called.wait(1.0)
    finally:
        observer.stop()
        observer.join()


def test_watch_calls_back_again_once_a_new_file_may_have_settled(tmp_path):
    inbox_channel = channel(tmp_path)
    claimed: list[ClaimedFile] = []
    settled = threading.Event()

    def scan() -> None:
        claimed.extend(inbox_channel.scan())
        if claimed:
            settled.set()

    observer = inbox_channel.watch(scan)
    try:
        time.sleep(0.1)
        (inbox_channel.inbox / "po.edi").write_bytes(b"UNA")
        assert settled.wait(SETTLE + 1.0)
        assert names(claimed) == ["po.edi"]
    finally:
        observer.stop()
        observer.join()


def test_watch_ignores_files_it_would_not_claim(tmp_path):
    inbox_channel = channel(tmp_path)
    called = threading.Event()
    observer = inbox_channel.watch(called.set)
    try:
        time.sleep(0.1)
        (inbox_channel.inbox / "po.edi.part").write_bytes(b"UNA")
        (inbox_channel.inbox / ".po.edi").write_bytes(b"UNA")
        assert not called.wait(0.5)
    finally:
        observer.stop()
        observer.join()


class _Events(FileSystemEventHandler):
    def __init__(self) -> None:
        self.events: list[FileSystemEvent] = []

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.events.append(event)


def test_send_writes_the_file_whole_under_its_name_in_one_rename(tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    inbox_channel = channel(tmp_path, outbox=outbox)
    recorder = _Events()
    observer = Observer()
    # recursive: the temporary file is written in outbox/.edigw-tmp/, out of partners' sight
    observer.schedule(recorder, str(outbox), recursive=True)
    observer.start()
    data = b"UNB+UNOC:3+US+ACME'" * 1000
    try:
        time.sleep(0.1)
        target = inbox_channel.send("ORDRSP-0001.edi", data)
        time.sleep(0.3)
    finally:
        observer.stop()
        observer.join()

    assert target == outbox / "ORDRSP-0001.edi"
    assert target.read_bytes() == data
    assert os.listdir(outbox) == ["ORDRSP-0001.edi"]
    touching_target = [event for event in recorder.events if str(target) in (event.src_path, event.dest_path)]
    # The file appears whole, in one event. It is "moved" when watchdog had added its watch on the
    # temporary folder (made afresh for each write) before the rename, "created" when the folder
    # came and went first (a busy machine): the kernel saw a rename either way. A file written in
    # place under its name shows as created, opened, modified and closed.
    assert len(touching_target) == 1, [event.event_type for event in touching_target]
    assert touching_target[0].event_type in (EVENT_TYPE_MOVED, EVENT_TYPE_CREATED)


def test_send_copies_a_big_file_to_the_outbox_a_block_at_a_time(tmp_path):
    """An outbound file handed over as a file opened for reading (the archived bytes), not as bytes."""
    outbox = tmp_path / "outbox"
    source = tmp_path / "archived"
    source.write_bytes(os.urandom(BIG_FILE))
    inbox_channel = channel(tmp_path, outbox=outbox)

    with source.open("rb") as stream, heap_peak() as peak:
        target = inbox_channel.send("CONTRL_1.edi", stream)

    assert target.read_bytes() == source.read_bytes()
    assert os.listdir(outbox) == ["CONTRL_1.edi"]
    assert peak[0] < BIG_FILE * WELL_BELOW, f"peak {peak[0]} bytes for a file of {BIG_FILE}"


def test_send_never_overwrites_a_file_the_partner_has_not_picked_up(tmp_path):
    inbox_channel = channel(tmp_path, outbox=tmp_path / "outbox")
    inbox_channel.send("INVOIC-1.edi", b"first")

    with pytest.raises(ChannelError, match="INVOIC-1.edi"):
        inbox_channel.send("INVOIC-1.edi", b"second")
    assert (tmp_path / "outbox" / "INVOIC-1.edi").read_bytes() == b"first"


@pytest.mark.parametrize("name", ["../evil", "a/b.edi", "..", "", "x\x00y", "a\\b.edi", ".hidden"])
def test_send_refuses_names_that_are_not_plain_file_names(tmp_path, name):
    outbox = tmp_path / "box" / "outbox"
    inbox_channel = channel(tmp_path, outbox=outbox)

    with pytest.raises(UnsafeFileName):
        inbox_channel.send(name, b"data")
    assert not (tmp_path / "box" / "evil").exists()
    assert not outbox.exists() or os.listdir(outbox) == []


def test_waiting_tells_whether_files_are_still_settling(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    channel = FolderChannel(name="waiting", inbox=inbox, settle_seconds=5)
    assert channel.waiting() is False
    (inbox / "fresh.edi").write_bytes(b"UNB")
    (inbox / "upload.part").write_bytes(b"UNB")
    assert list(channel.scan()) == []
    assert channel.waiting() is True


def test_done_after_a_crash_mid_move_leaves_one_file_in_processed(tmp_path):
    inbox_channel = channel(tmp_path, processed_dir=tmp_path / "processed")
    drop(inbox_channel.inbox, "po.edi", b"today")
    [claimed] = list(inbox_channel.scan())
    (tmp_path / "processed").mkdir()
    os.link(claimed.path, tmp_path / "processed" / "po.edi")  # the move was cut off here

    [recovered] = list(inbox_channel.recover())
    destination = inbox_channel.done(recovered)

    assert destination == tmp_path / "processed" / "po.edi"
    assert os.listdir(tmp_path / "processed") == ["po.edi"]
    assert os.listdir(inbox_channel.inbox) == []


def _watched_scans(inbox_channel: FolderChannel) -> tuple[list[ClaimedFile], threading.Event, object]:
    """A watch whose callback scans, as the daemon's worker does; (claims, claimed-something, observer)."""
    claimed: list[ClaimedFile] = []
    got = threading.Event()

    def scan() -> None:
        claimed.extend(inbox_channel.scan())
        if claimed:
            got.set()

    return claimed, got, inbox_channel.watch(scan)


def test_a_file_closed_after_writing_is_taken_at_once_not_after_the_settle_time(tmp_path):
    inbox_channel = channel(tmp_path, settle_seconds=5)
    claimed, got, observer = _watched_scans(inbox_channel)
    try:
        time.sleep(0.1)
        started = time.monotonic()
        (inbox_channel.inbox / "po.edi").write_bytes(b"UNB+UNOC:3+A+B'UNZ+0+1'")  # opened, written, closed
        assert got.wait(2.0)
        assert time.monotonic() - started < 2.0  # far below the 5 s settle time
        assert names(claimed) == ["po.edi"]
        assert claimed[0].path.read_bytes() == b"UNB+UNOC:3+A+B'UNZ+0+1'"
    finally:
        observer.stop()
        observer.join()


def test_a_file_renamed_into_the_inbox_from_elsewhere_is_taken_at_once(tmp_path):
    inbox_channel = channel(tmp_path, settle_seconds=5)
    staging = tmp_path / "staging"
    staging.mkdir()
    written = staging / "po.edi"
    written.write_bytes(b"UNA:+.? 'UNB")
    inside = inbox_channel.inbox / "po-2.edi.part"
    inside.write_bytes(b"UNA:+.? 'UNB 2")
    claimed, got, observer = _watched_scans(inbox_channel)
    try:
        time.sleep(0.1)
        os.rename(written, inbox_channel.inbox / "po.edi")  # an upload tool's last step
        os.rename(inside, inbox_channel.inbox / "po-2.edi")  # renamed from its in-transit name
        deadline = time.monotonic() + 2.0
        while len(claimed) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert names(claimed) == ["po-2.edi", "po.edi"]
    finally:
        observer.stop()
        observer.join()


def test_a_file_still_growing_is_not_taken_while_watched_until_it_settles(tmp_path):
    inbox_channel = channel(tmp_path, settle_seconds=0.4)
    claimed, got, observer = _watched_scans(inbox_channel)
    parts = [b"UNB+UNOC:3+SENDER+RECEIVER'", b"UNH+1+ORDERS:D:96A:UN'", b"BGM+220+PO1'", b"UNT+3+1'", b"UNZ+1+1'"]
    try:
        time.sleep(0.1)
        with open(inbox_channel.inbox / "slow.edi", "wb") as writer:
            for part in parts:  # never closed while written, never pausing for the settle time
                writer.write(part)
                writer.flush()
                time.sleep(0.15)
                assert claimed == []
        assert got.wait(2.0)
        assert claimed[0].path.read_bytes() == b"".join(parts)
    finally:
        observer.stop()
        observer.join()


def test_a_file_changed_after_it_was_closed_waits_for_the_settle_time(tmp_path):
    inbox_channel = channel(tmp_path, settle_seconds=0.6)
    called = threading.Event()
    observer = inbox_channel.watch(called.set)  # wakes only: scans are made here
    path = inbox_channel.inbox / "po.edi"
    try:
        time.sleep(0.1)
        path.write_bytes(b"UNB+first part'")
        assert called.wait(1.0)
        time.sleep(0.1)  # the close event has been seen
        with open(path, "ab") as writer:  # the writer comes back for more
            writer.write(b"UNZ+second part'")
            writer.flush()
            assert list(inbox_channel.scan()) == []  # changed since its close: it must settle now
    finally:
        observer.stop()
        observer.join()

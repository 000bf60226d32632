"""Big local and archived files are read a block at a time, never whole into memory.

The pipeline reads the archive through an mmap; so do `edigw inspect` and `partners test` for a
local file, and the console's raw view streams the archived bytes. Each test measures the peak of
the Python heap (tracemalloc) while a file of 16 MB goes through, and finds it well below the
file's size. (Outbound files go to the channels a block at a time: test_outbound, and the
channels' own tests.)
"""

from __future__ import annotations

import hashlib
import io
from contextlib import contextmanager
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest
from conftest import CORPUS, ROOT
from gateway_fixtures import BIG_FILE, WELL_BELOW, heap_peak, make_gateway

from gateway import inspection
from gateway.pipeline import TemplateSet

SAMPLE = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"


def test_inspect_tells_a_big_file_is_not_edi_without_reading_it_into_memory(tmp_path):
    """A 16 MB file that is not EDI (a scanned PDF saved in the inbox by mistake): the report says
    why it cannot be read, and the file was looked at, not loaded."""
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"%\xe2\xe3\xcf\xd3 stream of a scanned page\n" * (BIG_FILE // 34))

    with heap_peak() as peak:
        report = inspection.inspect_file(path, None, TemplateSet(ROOT / "templates"))

    assert report["standard"] is None
    assert "not EDIFACT" in report["error"]
    assert peak[0] < path.stat().st_size * WELL_BELOW, f"peak {peak[0]} bytes for a file of {path.stat().st_size}"


def test_inspect_of_a_local_file_gives_the_report_the_bytes_give(tmp_path):
    templates = TemplateSet(ROOT / "templates")

    report = inspection.inspect_file(SAMPLE, None, templates)

    assert report == inspection.inspect_bytes(SAMPLE.read_bytes(), str(SAMPLE), None, templates)
    assert [m["document"]["document_number"] for m in report["interchanges"][0]["messages"]] == [
        "4500012", "4500013"]


def _every_sample_and_corpus_file() -> list[Path]:
    return sorted(path for folder in (CORPUS, ROOT / "samples") for path in folder.rglob("*")
                  if path.is_file() and path.suffix.lower() != ".md")


def test_edigw_inspect_writes_the_report_of_every_real_file_as_the_parse_goes():
    """`edigw inspect` writes its report as the parse goes: for every file of the corpus and the
    samples, the text is what the whole report gives (json.dump with an indent of 2, or
    `describe`), and so is the exit status."""
    templates = TemplateSet(ROOT / "templates")
    files = _every_sample_and_corpus_file()
    assert len(files) > 100
    for path in files:
        report = inspection.inspect_file(path, None, templates)
        for as_json in (True, False):
            out = io.StringIO()
            accepted = inspection.write_report(path, None, templates, out, as_json)
            whole = json.dumps(report, indent=2, ensure_ascii=False, default=str) if as_json else \
                inspection.describe(report)
            assert out.getvalue() == whole + "\n", path
            assert accepted == inspection.all_accepted(report), path


def _many_orders(count: int) -> str:
    """One interchange of `count` orders: the ACME sample's first order, numbered on (PO 4600001…)."""
    sample = SAMPLE.read_text(encoding="ascii")
    head, first = sample.split("UNH+1+", 1)[0], "UNH+1+" + sample.split("UNH+1+", 1)[1].split("UNH+2+")[0]
    orders = "".join(first.replace("UNH+1+", f"UNH+{n}+").replace("UNT+23+1'", f"UNT+23+{n}'")
                     .replace("BGM+220+4500012", f"BGM+220+{4600000 + n}") for n in range(1, count + 1))
    return head + orders + f"UNZ+{count}+ACME000117'"


class _Counted(io.TextIOBase):
    """Where a report goes: its length is counted, its text not kept."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


def test_edigw_inspect_of_a_big_interchange_never_holds_its_report(tmp_path):
    """One interchange of 1,000 orders (the ACME sample's first order, numbered on; 640 kB): its
    report lists every segment of every message, some ten times the file. Written as the parse
    goes, the heap's peak is a small part of what the whole report held in memory takes."""
    path = tmp_path / "ORDERS_many.edi"
    path.write_text(_many_orders(1000), encoding="ascii")
    templates = TemplateSet(ROOT / "templates")
    with heap_peak() as whole:
        report = inspection.inspect_file(path, None, templates)
    assert sum(len(interchange["messages"]) for interchange in report["interchanges"]) == 1000
    del report
    out = _Counted()

    with heap_peak() as peak:
        accepted = inspection.write_report(path, None, templates, out, as_json=True)

    assert accepted
    assert out.size > 5 * path.stat().st_size
    assert peak[0] < whole[0] / 3, f"peak {peak[0]} bytes, against {whole[0]} for the whole report"


def test_inspect_of_an_empty_file_says_it_is_empty(tmp_path):
    path = tmp_path / "empty.edi"
    path.write_bytes(b"")

    report = inspection.inspect_file(path, None, TemplateSet(ROOT / "templates"))

    assert report["error"] == "the file is empty"


@pytest.fixture(scope="module")
def padded(tmp_path_factory):
    """A gateway that took in the ACME sample padded with 16 MB of blank lines after its UNZ (as some
    partners' tools write fixed-size files), and its console, signed in through a trusted header."""
    data = SAMPLE.read_bytes() + b"\n" * BIG_FILE
    with _console_over(tmp_path_factory.mktemp("padded"), "ORDERS_4500012.edi", data, "4500012") as console:
        yield console


@contextmanager
def _console_over(home: Path, name: str, data: bytes, order: str) -> Iterator[SimpleNamespace]:
    """A gateway that took in one file of ACME's, its console signed in through a trusted header,
    and the id of the message of one order."""
    from gateway.app import App
    from gateway.config import load_settings
    from gateway.web import users
    from gateway.web.app import create_app

    gateway = make_gateway(home, partners=("acme-retail",))
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write('[http]\ntrusted_user_header = "X-Remote-User"\n')
    (gateway.inbox("acme-retail") / name).write_bytes(data)
    gateway.run("run", "--once")
    [message] = [m for m in gateway.messages() if m["document_number"] == order]
    settings = load_settings(str(gateway.config))
    app = App(settings)
    users.add(app.store, "ann", "operator", "ann-operator-pw")
    client = create_app(settings).test_client()
    client.get("/messages", headers=AS_ANN)  # a first page: the console has loaded its parts
    try:
        yield SimpleNamespace(data=data, message=message["id"], app=app, client=client)
    finally:
        app.store.close()


AS_ANN = {"X-Remote-User": "ann"}


def test_the_console_streams_the_raw_bytes_of_a_big_file(padded):
    """Support downloads the file of a message from its page: the bytes arrive whole and in order,
    and the console never holds them all at once."""
    digest, size = hashlib.sha256(), 0
    with heap_peak() as peak:
        response = padded.client.get(f"/messages/{padded.message}/raw", headers=AS_ANN, buffered=False)
        for chunk in response.response:
            digest.update(chunk)
            size += len(chunk)
        response.close()

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f"attachment; filename=message-{padded.message}.edi"
    assert (size, digest.hexdigest()) == (len(padded.data), hashlib.sha256(padded.data).hexdigest())
    assert peak[0] < len(padded.data) * WELL_BELOW, f"peak {peak[0]} bytes for a file of {len(padded.data)}"


def test_messages_show_parses_the_tree_again_without_reading_the_file_whole(padded):
    from gateway import queries

    with heap_peak() as peak:
        detail = queries.show_message(padded.app.store, padded.app.archive, padded.message, with_tree=True)

    assert "<BGM" in detail["tree"] and "4500012" in detail["tree"]
    assert peak[0] < len(padded.data) * WELL_BELOW, f"peak {peak[0]} bytes for a file of {len(padded.data)}"


def test_the_console_previews_a_reprocess_without_reading_the_file_whole(padded):
    with heap_peak() as peak:
        page = padded.client.get(f"/messages/{padded.message}/reprocess?stage=parse", headers=AS_ANN)

    assert page.status_code == 200
    assert "4500012" in page.get_data(as_text=True)
    assert "no deliverer is configured" in page.get_data(as_text=True)
    assert peak[0] < len(padded.data) * WELL_BELOW, f"peak {peak[0]} bytes for a file of {len(padded.data)}"


def test_the_console_previews_a_reprocess_of_one_order_of_many_without_a_report_of_the_others(tmp_path):
    """A file of 1,000 orders: the preview of reprocessing order 4600500 reads the file as the
    reprocess does (that message, its interchange checked to the end), and keeps no report of the
    999 others: its heap's peak is a small part of what a report of the whole file takes."""
    data = _many_orders(1000).encode("ascii")
    with _console_over(tmp_path, "ORDERS_many.edi", data, "4600500") as console:
        profile = console.app.profiles["acme-retail"]
        with heap_peak() as whole:
            report = inspection.inspect_bytes(data, "ORDERS_many.edi", profile, console.app.templates)
        assert sum(len(interchange["messages"]) for interchange in report["interchanges"]) == 1000
        del report

        with heap_peak() as peak:
            page = console.client.get(f"/messages/{console.message}/reprocess?stage=parse", headers=AS_ANN)

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "4600500" in html and "4600499" not in html and "4600501" not in html
    assert "no deliverer is configured" in html
    assert peak[0] < whole[0] / 3, f"peak {peak[0]} bytes, against {whole[0]} for a report of the whole file"


def test_the_message_page_of_a_big_file_reads_it_a_block_at_a_time(padded):
    with heap_peak() as peak:
        page = padded.client.get(f"/messages/{padded.message}", headers=AS_ANN)

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<code>BGM+220+4500012+9&#39;</code>" in html
    assert peak[0] < len(padded.data) * WELL_BELOW, f"peak {peak[0]} bytes for a file of {len(padded.data)}"


def test_the_message_page_shows_a_big_file_around_the_message():
    """Of an interchange of 300 messages, the page shows the envelope, the 100 segments before the
    151st message, the message, the 100 after it, and says where segments are left out."""
    from gateway.web.console import rawview

    body = "".join(f"UNH+{n}+ORDERS:D:96A:UN'BGM+220+PO{n}+9'UNT+3+{n}'" for n in range(1, 301))
    data = f"UNB+UNOC:3+SENDER:14+RECEIVER:14+240131:1200+REF1'{body}UNZ+300+REF1'".encode()

    shown = rawview.segments(data, 150, [{"position": 2, "reason": "a finding"}])

    first = 1 + 150 * 3 + 1  # UNB, 150 messages, then the message's UNH
    assert [s.number for s in shown] == [*range(1, 21), None, *range(first - 100, first + 103), None]
    assert [s.text for s in shown if s.ours] == ["UNH+151+ORDERS:D:96A:UN'", "BGM+220+PO151+9'", "UNT+3+151'"]
    assert [s.text for s in shown if s.findings] == ["BGM+220+PO151+9'"]
    assert shown[20].text == f"… {first - 100 - 21} segments are not shown: download the file to read them"
    assert shown[-1].text.startswith("… the segments after these are not shown")


@pytest.mark.parametrize("data, texts", [
    ("UNA:+.? 'UNB+UNOC:3+A+B+1+R'\n\nUNH+1+X'NAD+BY++Müller?'s straße ñ€'UNT+3+1'UNZ+1+R'\n\n".encode(),
     ["UNA:+.? '", "UNB+UNOC:3+A+B+1+R'", "UNH+1+X'", "NAD+BY++Müller?'s straße ñ€'", "UNT+3+1'", "UNZ+1+R'"]),
    ("naïve,ü\r\nß,€\r\n\r\nlast".encode(), ["naïve,ü", "ß,€", "", "last"]),
], ids=["edifact", "csv"])
def test_the_message_page_cuts_a_file_the_same_whatever_falls_between_two_blocks(monkeypatch, data, texts):
    """A character of several bytes, a release character or a CRLF cut by the end of a block."""
    from gateway.web.console import rawview

    monkeypatch.setattr(rawview, "BLOCK", 5)

    assert [s.text for s in rawview.segments(data, 0, [])] == texts

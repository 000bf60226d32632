"""Big local and archived files are read a block at a time, never whole into memory.

The pipeline reads the archive through an mmap; so do `edigw inspect` and `partners test` for a
local file, and the console's raw view streams the archived bytes. Each test measures the peak of
the Python heap (tracemalloc) while a file of 16 MB goes through, and finds it well below the
file's size. (Outbound files go to the channels a block at a time: test_outbound, and the
channels' own tests.)
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from conftest import ROOT
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


def test_inspect_of_an_empty_file_says_it_is_empty(tmp_path):
    path = tmp_path / "empty.edi"
    path.write_bytes(b"")

    report = inspection.inspect_file(path, None, TemplateSet(ROOT / "templates"))

    assert report["error"] == "the file is empty"


@pytest.fixture(scope="module")
def padded(tmp_path_factory):
    """A gateway that took in the ACME sample padded with 16 MB of blank lines after its UNZ (as some
    partners' tools write fixed-size files), and its console, signed in through a trusted header."""
    from gateway.app import App
    from gateway.config import load_settings
    from gateway.web import users
    from gateway.web.app import create_app

    gateway = make_gateway(tmp_path_factory.mktemp("padded"), partners=("acme-retail",))
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write('[http]\ntrusted_user_header = "X-Remote-User"\n')
    data = SAMPLE.read_bytes() + b"\n" * BIG_FILE
    (gateway.inbox("acme-retail") / "ORDERS_4500012.edi").write_bytes(data)
    gateway.run("run", "--once")
    [order] = [m for m in gateway.messages() if m["document_number"] == "4500012"]
    settings = load_settings(str(gateway.config))
    app = App(settings)
    users.add(app.store, "ann", "operator", "ann-operator-pw")
    client = create_app(settings).test_client()
    client.get("/messages", headers=AS_ANN)  # a first page: the console has loaded its parts
    yield SimpleNamespace(data=data, message=order["id"], app=app, client=client)
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

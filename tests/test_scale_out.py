"""Several nodes on one PostgreSQL store: exchanges claimed a few at a time (FOR UPDATE SKIP LOCKED),
and the archive kept in the store itself (`[archive] url`), so nodes share no folder but the inbox."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import threading

import psycopg
import pytest

from conftest import ROOT, postgres_database
from gateway.store.archive import CHUNK, ArchiveMismatch, StoreArchive
from gateway.store.db import open_store
from gateway.store.models import Exchange
from gateway_fixtures import age, make_gateway

SAMPLE = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"


def plain(url: str) -> str:
    return url.replace("+psycopg", "")


def received(store, count: int) -> list[int]:
    with store.session() as session:
        rows = [Exchange(partner="acme-retail", channel="acme-retail/inbox", direction="in",
                         original_name=f"ORDERS_{n}.edi", size=1, sha256="0" * 64, state="received")
                for n in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_two_nodes_claiming_at_once_get_different_exchanges_and_a_claim_ends_with_its_block():
    with postgres_database() as url:
        first, second = open_store(url), open_store(url)
        try:
            ids = received(first, 25)
            with first.claim_received(10) as mine, second.claim_received(10) as theirs:
                assert mine == ids[:10]  # the oldest first
                assert theirs == ids[10:20]  # none of those the first node holds
                with second.claim_received(10) as third:
                    assert third == ids[20:]  # what is left, fewer than asked
            with second.claim_received(10, after=ids[4]) as again:
                assert again == ids[5:15]  # claims end with their block: free again
        finally:
            first.close()
            second.close()


def test_a_claim_dies_with_its_node():
    with postgres_database() as url:
        store = open_store(url)
        try:
            ids = received(store, 3)
            script = (f"from gateway.store.db import Store\nimport os\nstore = Store({url!r})\n"
                      "with store.claim_received(2) as ids:\n    print(ids, flush=True)\n    os._exit(9)\n")
            node = subprocess.run([".venv/bin/python", "-c", script], capture_output=True, cwd=ROOT, timeout=60)
            assert node.returncode == 9 and node.stdout.strip() == str(ids[:2]).encode()
            with store.claim_received(10) as claimed:
                assert claimed == ids  # the dead node's claims went with its connection
        finally:
            store.close()


def test_the_archive_in_the_store_keeps_bytes_in_chunks_once_and_refuses_changed_ones():
    with postgres_database() as url:
        open_store(url).close()  # migrated: migration 0007 made the archive's tables
        archive = StoreArchive(url)
        data = bytes(range(256)) * (CHUNK * 5 // 512)  # 2.5 MiB: three chunks
        sha, size = archive.put_stream(io.BytesIO(data))
        again, _ = archive.put_bytes(data)
        empty, empty_size = archive.put_bytes(b"")

        assert (sha, size, again) == (hashlib.sha256(data).hexdigest(), len(data), sha)
        assert archive.read(sha) == data
        assert [len(chunk) for chunk in archive.chunks(sha)] == [CHUNK, CHUNK, CHUNK // 2]
        assert archive.read(empty) == b"" and empty_size == 0
        assert archive.check(sha) is None and archive.exists(sha)
        with psycopg.connect(plain(url)) as db:
            assert db.execute("SELECT count(*) FROM archive_files").fetchone() == (2,)
            assert db.execute("SELECT count(*) FROM archive_chunks WHERE sha256 = %s", (sha,)).fetchone() == (3,)
            db.execute("UPDATE archive_chunks SET data = %s WHERE sha256 = %s AND seq = 1", (b"x" * CHUNK, sha))
        with pytest.raises(ArchiveMismatch, match="does not match its sha256"):
            archive.read(sha)
        assert "does not match" in archive.check(sha)
        with pytest.raises(ArchiveMismatch, match="missing"):
            archive.read("a" * 64)
        limited = archive.put_limited(io.BytesIO(b"UNB" * 100), 10)
        assert limited == (hashlib.sha256(b"UNBUNBUNBU").hexdigest(), 10, False)
        archive.remove(sha)
        assert not archive.exists(sha)


def test_two_writers_archiving_the_same_bytes_at_once_store_them_once():
    with postgres_database() as url:
        open_store(url).close()
        archives = [StoreArchive(url) for _ in range(4)]
        data = b"UNB+UNOC:3+4012345000009:14+5790000000001:14+261120:1030+ACME000117'" * 40000
        results: list[tuple[str, int]] = []
        threads = [threading.Thread(target=lambda a=a: results.append(a.put_bytes(data))) for a in archives]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(results)) == 1
        with psycopg.connect(plain(url)) as db:
            assert db.execute("SELECT count(*) FROM archive_files").fetchone() == (1,)
            chunks = db.execute("SELECT count(*) FROM archive_chunks").fetchone()[0]
        assert chunks == -(-len(data) // CHUNK)
        assert archives[0].read(results[0][0]) == data


FILES = 60


def test_two_nodes_with_no_shared_archive_folder_share_the_work_and_the_archive_in_the_store(tmp_path, monkeypatch):
    """Each node has a state folder of its own (as on two machines); only the inbox and the store are shared,
    and the audit chain's key, as the README asks of nodes (EDIGW_AUDIT_KEY_FILE)."""
    (tmp_path / "audit.key").write_text("ab" * 32)
    monkeypatch.setenv("EDIGW_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    with postgres_database() as url:
        nodes = []
        for node in ("a", "b"):
            gateway = make_gateway(tmp_path / node, partners=("acme-retail",))
            with gateway.config.open("a", encoding="utf-8") as config:
                config.write(f'\n[store]\nurl = "{url}"\n[archive]\nurl = "store"\n')
            nodes.append(gateway)
        inbox = tmp_path / "shared-inbox"
        inbox.mkdir()
        for gateway in nodes:
            profile = gateway.partners / "acme-retail.yaml"
            profile.write_text(profile.read_text().replace("inbox: inbox/acme-retail", f"inbox: {inbox}"))
        text_ = SAMPLE.read_text(encoding="latin-1")
        for number in range(FILES):
            target = inbox / f"ORDERS_{number:03d}.edi"
            target.write_text(text_.replace("4500012", f"49{number:05d}").replace("4500013", f"59{number:05d}"),
                              encoding="latin-1")
            age(target)
        runs = [subprocess.Popen(gateway.command("run", "--once"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=gateway.env(), cwd=gateway.home) for gateway in nodes]
        outputs = [run.communicate(timeout=600) for run in runs]
        for run, (_, stderr) in zip(runs, outputs):
            assert run.returncode == 0, stderr.decode(errors="replace")
            assert b"Traceback" not in stderr and b"internal error" not in stderr, stderr.decode(errors="replace")
        processed = [len(re.findall(rb"exchange \d+ '[^']*': processed", stderr)) for _, stderr in outputs]

        with psycopg.connect(plain(url)) as db:
            states = db.execute("SELECT state, count(*) FROM exchanges WHERE direction = 'in' GROUP BY state").fetchall()
            orders = db.execute("SELECT count(*), count(DISTINCT document_number) FROM messages "
                                "WHERE direction = 'in'").fetchone()
            acks = db.execute("SELECT count(*), count(DISTINCT ack_exchange_id) FROM exchanges "
                              "WHERE direction = 'in' AND ack_state = 'made'").fetchone()
            missing = db.execute("SELECT count(*) FROM exchanges e WHERE NOT EXISTS "
                                 "(SELECT 1 FROM archive_files a WHERE a.sha256 = e.sha256)").fetchone()[0]
        assert states == [("processed", FILES)]
        assert orders == (2 * FILES, 2 * FILES)
        assert acks == (FILES, FILES)
        assert sum(processed) == FILES and min(processed) > 0, processed  # both nodes worked, each file once
        assert missing == 0  # every file and acknowledgment archived in the store
        for gateway in nodes:
            assert not (gateway.state / "archive").exists() or not any(
                path.is_file() for path in (gateway.state / "archive").rglob("*"))
        # Each node reads what the other archived: the raw bytes of every file, and the audit check.
        with psycopg.connect(plain(url)) as db:
            first, name = db.execute("SELECT m.id, e.original_name FROM messages m JOIN exchanges e "
                                     "ON e.id = m.exchange_id ORDER BY m.id LIMIT 1").fetchone()
        for gateway in nodes:
            assert gateway.run("messages", "show", str(first), "--raw").stdout == (
                inbox / "processed" / name).read_bytes()
            assert b"every one matches its sha256" in gateway.run("audit", "verify").stdout


def test_archive_url_store_means_the_store_database_and_dir_stays_the_default(tmp_path):
    from gateway.config import ConfigError, settings_from

    url = "postgresql+psycopg://postgres@127.0.0.1:5432/edigw"
    assert settings_from({"store": {"url": url}, "archive": {"url": "store"}}, tmp_path).archive_url == url
    assert settings_from({"archive": {"url": url + "_archive"}}, tmp_path).archive_url == url + "_archive"
    default = settings_from({}, tmp_path)
    assert default.archive_url is None and default.archive_dir == tmp_path / "state" / "archive"
    with pytest.raises(ConfigError, match="dir .* or url .*not both"):
        settings_from({"archive": {"url": "store", "dir": "elsewhere"}}, tmp_path)


def test_nodes_scan_a_shared_folder_side_by_side_but_recover_claims_alone(tmp_path):
    """A node that has looked for its leftover claims scans the inbox while another node scans it
    too (the channel's lock shared: each file is claimed by one rename); a node looking for
    leftovers must be alone, so it waits while another scans, and no node scans while one does."""
    from gateway.app import App
    from gateway.config import load_settings
    from gateway.daemon import build_inboxes, poll
    from gateway.store.db import lock_key

    with postgres_database() as url:
        gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'\n[store]\nurl = "{url}"\n')
        text_ = SAMPLE.read_text(encoding="latin-1")

        def drop(number: int) -> None:
            target = gateway.inbox("acme-retail") / f"ORDERS_{number:03d}.edi"
            target.write_text(text_.replace("4500012", f"47{number:05d}"), encoding="latin-1")
            age(target)

        app = App(load_settings(str(gateway.config)))
        [inbox] = build_inboxes(app)
        key = lock_key(f"channel {inbox.channel.name}")
        try:
            with psycopg.connect(plain(url), autocommit=True) as other_node:
                drop(1)
                other_node.execute("SELECT pg_advisory_lock_shared(%s)", (key,))  # another node is scanning
                assert poll(app, inbox) == 0  # this one has not looked for leftovers yet: it waits its turn
                assert not inbox.recovered
                other_node.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
                assert poll(app, inbox) == 1 and inbox.recovered  # alone: leftovers looked for, file taken

                drop(2)
                other_node.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
                assert poll(app, inbox) == 1  # scanning beside the other node
                other_node.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))

                drop(3)
                other_node.execute("SELECT pg_advisory_lock(%s)", (key,))  # another node recovering its claims
                assert poll(app, inbox) == 0
                other_node.execute("SELECT pg_advisory_unlock(%s)", (key,))
                assert poll(app, inbox) == 1
        finally:
            app.close()
        with psycopg.connect(plain(url)) as db:
            taken = [row[0] for row in db.execute("SELECT original_name FROM exchanges ORDER BY id")]
    assert taken == ["ORDERS_001.edi", "ORDERS_002.edi", "ORDERS_003.edi"]

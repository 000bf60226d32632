"""A bounded fuzz run: thousands of mutations of real files, each ending in a readable state.

The files are the shared corpus (partners' real interchanges, EDIFACT, X12 and CSV) and the
shipped samples, mutated the ways partners' files were found broken: cut short, a byte
changed, a separator inserted, a piece repeated many times, two files glued together. Every
mutation is dropped into a real folder inbox and taken by the real channel and pipeline on
one real SQLite store, in this process (thousands of subprocesses would take an hour); more
mutations go through parse, translate and the acknowledgment's making alone (the part of the
pipeline a file's content reaches), and the daemon test at the end drops a sample of them on
a running `edigw run`. 2,000 mutations in all by default; EDIGW_FUZZ_MUTATIONS (through the
store) and EDIGW_FUZZ_PARSE_MUTATIONS (parse alone) change the counts, EDIGW_FUZZ_SEED the seed.

What must hold for every file: its exchange is in a final state (processed, rejected,
duplicate) and never held by an internal error; a rejected one says why; its bytes are in
the archive under its sha256; a message that is rejected or held says why. The seed is fixed
and printed with every failure, with the mutation, so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy

from conftest import CORPUS, ROOT
from gateway.app import App
from gateway.config import load_settings
from gateway.daemon import build_inboxes, poll
from gateway_fixtures import SAMPLE_INBOX, age, make_gateway

SEED = int(os.environ.get("EDIGW_FUZZ_SEED", "20261205"))
MUTATIONS = int(os.environ.get("EDIGW_FUZZ_MUTATIONS", "400"))  # through the folder channel and the store
PARSE_MUTATIONS = int(os.environ.get("EDIGW_FUZZ_PARSE_MUTATIONS", "1600"))  # through parse, translate, acks
BATCH = 60  # files dropped before each poll: one scan takes them all, as a busy inbox would

# Receives every business document a base template reads; no identifiers, so files from any
# sender in the corpus are this partner's and go through parse, translate and acknowledgment.
ANYONE = """\
name: Anyone (fuzz)
odoo_partner: {ref: ANYONE}
channels:
  inbox:
    type: folder
    inbox: inbox/anyone
    outbox: outbox/anyone
    after: move
    settle_seconds: 0
receive:
  ORDERS: {template: edifact/ORDERS_D96A, versions: ["*"]}
  DESADV: {template: edifact/DESADV_D96A, versions: ["*"]}
  INVOIC: {template: edifact/INVOIC_D96A, versions: ["*"]}
  ORDCHG: {template: edifact/ORDCHG_D96A, versions: ["*"]}
  ORDRSP: {template: edifact/ORDRSP_D96A, versions: ["*"]}
  "850": {template: x12/850_004010, versions: ["*"]}
  "856": {template: x12/856_004010, versions: ["*"]}
  "810": {template: x12/810_004010, versions: ["*"]}
  "860": {template: x12/860_004010, versions: ["*"]}
  "855": {template: x12/855_004010, versions: ["*"]}
acknowledgments: {send: true}
"""

FINAL = {"processed", "rejected", "duplicate"}
SEPARATORS = [b"'", b"+", b":", b"?", b"*", b"~", b"^", b"|", b">", b"\n", b"\r\n", b"UNH+", b"ISA*", b"\x00",
              b"\x1c", b"\xff", b'"', b",", b";"]


@dataclass(frozen=True)
class Source:
    partner: str
    name: str
    data: bytes


def sources() -> list[Source]:
    found = [Source(folder.name, sample.name, sample.read_bytes())
             for folder in sorted(SAMPLE_INBOX.iterdir()) for sample in sorted(folder.iterdir())]
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix.lower() not in (".md",):
            partner = "corner-shop" if path.suffix.lower() == ".csv" else "anyone"
            found.append(Source(partner, path.name, path.read_bytes()))
    return found


def mutate(data: bytes, chance: random.Random) -> tuple[bytes, str]:
    """One mutation of `data`, and what it was (printed when a file fails)."""
    size = max(len(data), 1)
    kind = chance.choice(("truncate", "flip", "flip", "insert", "insert", "delete", "repeat", "glue", "several"))
    at = chance.randrange(size)
    if kind == "truncate":
        return data[:at], f"truncated at {at}"
    if kind == "flip":
        value = chance.randrange(256)
        return data[:at] + bytes([value]) + data[at + 1:], f"byte {at} set to {value:#04x}"
    if kind == "insert":
        separator = chance.choice(SEPARATORS)
        return data[:at] + separator + data[at:], f"{separator!r} inserted at {at}"
    if kind == "delete":
        end = min(size, at + chance.randint(1, 40))
        return data[:at] + data[end:], f"bytes {at}..{end} deleted"
    if kind == "repeat":
        end = min(size, at + chance.randint(1, 120))
        # Up to about 100 KB more: big enough for thousands of segments, small enough for thousands of runs.
        times = min(chance.choice((10, 100, 1000, 3000)), 100_000 // (end - at))
        return data[:end] + data[at:end] * times + data[end:], f"bytes {at}..{end} repeated {times} times"
    if kind == "glue":
        return data + data[at:], f"its tail from {at} appended"
    steps = []
    for _ in range(chance.randint(2, 6)):
        data, step = mutate(data, chance)
        steps.append(step)
    return data, "; ".join(steps)


def test_thousands_of_mutations_parse_translate_and_get_their_acknowledgment_without_an_internal_error(tmp_path):
    """The middle of the pipeline, pure and in this process: what every file meets after intake."""
    from loguru import logger

    from gateway import formats
    from gateway.formats import acks
    from gateway.formats.model import Message, UnreadableFile
    from gateway.pipeline import TemplateSet, translate_parsed
    from gateway.profiles import load_profiles

    logger.remove()  # thousands of files: only failures matter here
    chance = random.Random(SEED + 2)
    originals = sources()
    templates = TemplateSet(ROOT / "templates")
    failures = []
    counts = {"unreadable": 0, "messages": 0, "rejected": 0, "acknowledgments": 0}
    with_anyone = tmp_path
    for partner in ("acme-retail", "bigbox-stores", "corner-shop"):
        (with_anyone / f"{partner}.yaml").write_text((ROOT / "partners" / f"{partner}.yaml").read_text())
    (with_anyone / "anyone.yaml").write_text(ANYONE)
    profiles = load_profiles(with_anyone, with_anyone / "state", ROOT / "templates")
    started = time.monotonic()
    for number in range(PARSE_MUTATIONS):
        source = chance.choice(originals)
        data, how = mutate(source.data, chance)
        profile = profiles[source.partner]
        try:
            standard, events = formats.parse(data, csv_layout=templates.csv_layout(profile),
                                             expected_sender=profile.sender_id(formats.sniff(data) or "csv"),
                                             options=profile.validation)
            pending = []
            for event in events:
                if isinstance(event, Message):
                    outcome = translate_parsed(event, profile, templates)
                    counts["messages"] += 1
                    if outcome.state in ("rejected", "held") and not outcome.reason:
                        failures.append(f"{number} {source.name} ({how}): a message {outcome.state} without a reason")
                    counts["rejected"] += outcome.state == "rejected"
                    acks.keep_for_acknowledgment(event)
                    pending.append(event)
                elif standard in ("edifact", "x12"):
                    mine = [m for m in pending if m.interchange is event]
                    pending = [m for m in pending if m.interchange is not event]
                    counts["acknowledgments"] += len(acks.acknowledgments(event, mine))
        except UnreadableFile as error:
            counts["unreadable"] += 1
            if not str(error):
                failures.append(f"{number} {source.name} ({how}): unreadable without a reason")
        except Exception as error:  # what the pipeline would hold as an internal error
            failures.append(f"{number} {source.name} ({how}): {error!r}")
    elapsed = time.monotonic() - started
    print(f"fuzz (parse): {PARSE_MUTATIONS} mutations, seed {SEED + 2}, {elapsed:.1f} s, {counts}")
    assert counts["messages"] and counts["rejected"] and counts["acknowledgments"] and counts["unreadable"]
    assert not failures, f"seed {SEED + 2} (EDIGW_FUZZ_SEED + 2), {len(failures)} failures:\n" + "\n".join(failures[:30])


@pytest.fixture
def fuzz_gateway(tmp_path):
    gateway = make_gateway(tmp_path, settle_seconds=0)
    (gateway.partners / "anyone.yaml").write_text(ANYONE, encoding="utf-8")
    # A size limit a few repeats go over: the files cut at the limit are checked too.
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write("[limits]\nmax_file_size = 2097152\n")
    app = App(load_settings(str(gateway.config)))
    yield gateway, app
    app.close()


def rows(app: App, sql: str) -> list[tuple]:
    with app.store.session() as session:
        return [tuple(row) for row in session.execute(sqlalchemy.text(sql))]


def test_hundreds_of_mutated_partner_files_each_end_in_a_readable_state(fuzz_gateway):
    gateway, app = fuzz_gateway
    chance = random.Random(SEED)
    originals = sources()
    inboxes = {inbox.profile.id: inbox for inbox in build_inboxes(app)}
    dropped: dict[str, tuple[str, bytes]] = {}  # file name → (what was done, bytes)
    started = time.monotonic()
    for first in range(0, MUTATIONS, BATCH):
        batch = []
        for number in range(first, min(first + BATCH, MUTATIONS)):
            source = chance.choice(originals)
            data, how = mutate(source.data, chance)
            name = f"{number:05d}-{source.name}"
            path = gateway.inbox(source.partner) / name
            path.write_bytes(data)
            age(path)
            dropped[name] = (f"{source.partner}/{source.name}: {how}", data)
            batch.append(source.partner)
        for partner in sorted(set(batch)):
            poll(app, inboxes[partner])  # would raise if a file stopped the inbox
        app.pipeline.process_pending()
    elapsed = time.monotonic() - started

    found = {name: (state, reason, sha256, size) for name, state, reason, sha256, size in rows(
        app, "SELECT original_name, state, reason, sha256, size FROM exchanges WHERE direction = 'in'")}
    failures = []
    for name, (how, data) in dropped.items():
        if name not in found:
            failures.append(f"{name} ({how}): no exchange recorded")
            continue
        state, reason, sha256, size = found[name]
        if state not in FINAL:
            failures.append(f"{name} ({how}): exchange {state}: {reason}")
        elif state == "rejected" and not reason:
            failures.append(f"{name} ({how}): rejected without a reason")
        elif size <= app.settings.max_file_size and app.archive.read(sha256) != data:
            failures.append(f"{name} ({how}): the archive does not hold its bytes")
        elif size > app.settings.max_file_size and app.archive.read(sha256) != data[:app.settings.max_file_size]:
            failures.append(f"{name} ({how}): the archive does not hold its first bytes")
    by_exchange = {exchange_id: name for exchange_id, name in rows(
        app, "SELECT id, original_name FROM exchanges WHERE direction = 'in'")}
    for exchange_id, state, reason in rows(
            app, "SELECT exchange_id, state, reason FROM messages WHERE direction = 'in'"):
        name = by_exchange[exchange_id]
        if state in ("rejected", "held") and not reason:
            failures.append(f"{name} ({dropped[name][0]}): a message {state} without a reason")
        if reason and "internal error" in reason:
            failures.append(f"{name} ({dropped[name][0]}): a message {state}: {reason}")
    for partner, inbox in inboxes.items():
        left = [p.name for p in inbox.channel.inbox.iterdir() if p.is_file()]
        if left:
            failures.append(f"{partner}: files left in the inbox: {left[:5]}")
    print(f"fuzz: {MUTATIONS} mutations, seed {SEED}, {elapsed:.1f} s")
    assert not failures, f"seed {SEED} (EDIGW_FUZZ_SEED), {len(failures)} failures:\n" + "\n".join(failures[:30])


def test_the_running_daemon_takes_a_burst_of_mutated_files_and_stays_up(tmp_path):
    """A sample of the same mutations on a real `edigw run`: it stays up, every file ends final."""
    gateway = make_gateway(tmp_path, settle_seconds=0.2)
    (gateway.partners / "anyone.yaml").write_text(ANYONE, encoding="utf-8")
    chance = random.Random(SEED + 1)
    originals = sources()
    daemon = gateway.start()
    names = {}
    for number in range(120):
        source = chance.choice(originals)
        data, how = mutate(source.data, chance)
        name = f"{number:05d}-{source.name}"
        (gateway.inbox(source.partner) / name).write_bytes(data)
        names[name] = how

    def settled() -> dict[str, tuple[str, str]] | None:
        found = gateway_rows(gateway)
        done = {name: row for name, row in found.items() if row[0] in FINAL}
        return found if len(done) == len(names) else None

    found = gateway.wait_for(settled, timeout=300, interval=1)
    assert daemon.poll() is None, f"seed {SEED + 1}: the daemon stopped:\n{gateway.daemon_log()[-3000:]}"
    found = found or gateway_rows(gateway)
    unfinished = {name: found.get(name) for name in names if found.get(name, ("",))[0] not in FINAL}
    assert not unfinished, f"seed {SEED + 1}: " + "\n".join(
        f"{name} ({names[name]}): {row}" for name, row in unfinished.items())
    assert all(reason for state, reason in found.values() if state == "rejected")


def gateway_rows(gateway) -> dict[str, tuple[str, str]]:
    engine = sqlalchemy.create_engine(f"sqlite:///{gateway.state / 'edigw.db'}")
    try:
        with engine.connect() as db:
            return {name: (state, reason) for name, state, reason in db.execute(sqlalchemy.text(
                "SELECT original_name, state, reason FROM exchanges WHERE direction = 'in'"))}
    except sqlalchemy.exc.OperationalError:
        return {}  # the daemon has not made the store yet
    finally:
        engine.dispose()

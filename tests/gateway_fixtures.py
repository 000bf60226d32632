"""Helpers for end-to-end tests: a gateway in a temporary folder, driven through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from conftest import ROOT

SAMPLE_INBOX = ROOT / "samples" / "inbox"
STARTED: list[subprocess.Popen] = []  # daemons started by tests; conftest kills any left running


@dataclass
class Gateway:
    """A gateway whose state, partners and config live under one temporary folder."""

    home: Path

    @property
    def config(self) -> Path:
        return self.home / "gateway.toml"

    @property
    def state(self) -> Path:
        return self.home / "state"

    @property
    def partners(self) -> Path:
        return self.home / "partners"

    def inbox(self, partner: str) -> Path:
        path = self.state / "inbox" / partner
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("EDIGW_CONFIG", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gateway", "--config", str(self.config), *args]

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(*args), capture_output=True, env=self.env(), timeout=timeout,
                              cwd=self.home)
        if check and done.returncode != 0:
            raise AssertionError(f"edigw {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout.decode(errors='replace')}\n{done.stderr.decode(errors='replace')}")
        return done

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json").stdout)

    @property
    def log(self) -> Path:
        return self.home / "daemon.log"

    def start(self, *args: str, wait: bool = True) -> subprocess.Popen:
        """`edigw run` in the background, its log in `daemon.log` (a file: a pipe nobody reads would
        fill up and stall it); with `wait`, returns once it says it is running (signals handled)."""
        with self.log.open("ab") as log:
            daemon = subprocess.Popen(self.command("run", *args), stdout=subprocess.DEVNULL, stderr=log,
                                      env=self.env(), cwd=self.home)
        STARTED.append(daemon)
        if wait:
            running = self.wait_for(lambda: daemon.poll() is not None or b"edigw running" in self.log.read_bytes(),
                                    timeout=60, interval=0.05)
            assert running and daemon.poll() is None, f"the daemon did not start:\n{self.daemon_log()}"
        return daemon

    def daemon_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def messages(self, **filters: str) -> list[dict]:
        """`messages list --json`; what partners sent unless `direction="out"` is asked for."""
        filters.setdefault("direction", "in")
        args = ["messages", "list", "--limit", "100000"]
        for key, value in filters.items():
            args += [f"--{key}", value]
        return self.json(*args)

    def wait_for(self, predicate, timeout: float = 20.0, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result or time.monotonic() > deadline:
                return result
            time.sleep(interval)


def make_gateway(home: Path, settle_seconds: float = 0.2, partners: tuple[str, ...] = (
        "acme-retail", "bigbox-stores", "corner-shop")) -> Gateway:
    """A gateway with the shipped partner profiles (settle time shortened) and default templates."""
    gateway = Gateway(home)
    gateway.partners.mkdir(parents=True)
    for partner in partners:
        text = (ROOT / "partners" / f"{partner}.yaml").read_text(encoding="utf-8")
        text = text.replace("settle_seconds: 1", f"settle_seconds: {settle_seconds}")
        (gateway.partners / f"{partner}.yaml").write_text(text, encoding="utf-8")
    gateway.config.write_text(
        f'state_dir = "state"\npartners_dir = "partners"\ntemplates_dir = "{ROOT / "templates"}"\n'
        'rescan_seconds = 2\n', encoding="utf-8")
    return gateway


def acme_orders(count: int) -> bytes:
    """ACME's sample interchange with its first order repeated `count` times, each its own number
    (46 and five digits): one big file of real orders."""
    text = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_text()
    head, rest = text.split("UNH+1+", 1)
    first = "UNH+1+" + rest.split("UNH+2+", 1)[0]
    orders = [first.replace("UNH+1+", f"UNH+{n}+").replace("BGM+220+4500012+", f"BGM+220+46{n:05d}+")
              .replace("UNT+23+1'", f"UNT+23+{n}'") for n in range(1, count + 1)]
    return (head + "".join(orders) + f"UNZ+{count}+ACME000117'\n").encode()


def drop_samples(gateway: Gateway) -> list[Path]:
    """Copy the shipped sample files into the partners' inboxes, as a partner would drop them."""
    dropped = []
    for folder in sorted(SAMPLE_INBOX.iterdir()):
        for sample in sorted(folder.iterdir()):
            target = gateway.inbox(folder.name) / sample.name
            shutil.copyfile(sample, target)
            dropped.append(target)
    return dropped


BIG_FILE = 16 * 1024 * 1024
"""A big file for the tests that measure memory: big beside what a read a block at a time holds."""
WELL_BELOW = 1 / 3
"""A heap peak this share of a big file's size: a few blocks of 1 MiB fit, the file does not."""


@contextmanager
def heap_peak() -> Iterator[list[int]]:
    """The peak of the Python heap (tracemalloc) while the block runs, in bytes (in the list, once it has run)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def age(path: Path, seconds: float = 5.0) -> None:
    """Make a file look settled (written a few seconds ago)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@dataclass
class OdooSession:
    url: str
    db: str
    user: str
    rpc: Any  # odoorpc.ODOO, logged in
    running: Any  # the sandbox started for the test, or None for a live Odoo
    probe: Any  # an OdooClient of the same server (not logged in): host, port, version facts


def odoorpc_login(url: str, db: str, user: str, password: str, timeout: float = 60) -> Any:
    """odoorpc logged in to the Odoo at `url`, by its host and port (and https where the URL says so)."""
    import odoorpc

    from gateway.config import OdooSettings
    from gateway.odoo.client import OdooClient

    where = OdooClient(OdooSettings(url=url, db=db, user=user))
    rpc = odoorpc.ODOO(where.host, protocol=where.protocol, port=where.port, timeout=timeout)
    rpc.login(db, user, password)
    return rpc


@contextmanager
def odoo_session(kind: str, tmp_path: Path, monkeypatch: Any, what: str,
                 password_env: str = "EDIGW_TEST_ODOO_PASSWORD", data: Path | None = None) -> Iterator[OdooSession]:
    """An Odoo for one test: a fresh sandbox (`kind` "sandbox", seeded from `data` if given) or the real one
    `EDIGW_ODOO_*` names ("live"; skipped without it), its password in `password_env`; the sandbox is stopped
    after."""
    from conftest import live_odoo
    from gateway.config import OdooSettings
    from gateway.odoo.client import OdooClient
    from gateway.odoo.sandbox import start

    running = None
    if kind == "live":
        url, db, user, password = live_odoo(what)
    else:
        running = start(data=data, state_file=tmp_path / "odoo-state.json")
        url, db, user, password = running.url, "edi", "admin", "admin"
    try:
        monkeypatch.setenv(password_env, password)
        probe = OdooClient(OdooSettings(url=url, db=db, user=user, password_env=password_env))
        yield OdooSession(url, db, user, odoorpc_login(url, db, user, password), running, probe)
    finally:
        if running is not None:
            running.stop()


@contextmanager
def odoorpc_for(kind: str) -> Iterator[Any]:
    """odoorpc logged in to a fresh sandbox (`kind` "sandbox"), or to the real Odoo EDIGW_ODOO_* name ("live")."""
    import odoorpc

    from conftest import live_odoo
    from gateway.odoo.sandbox import start

    if kind == "live":
        yield odoorpc_login(*live_odoo("the sandbox's Odoo tests"))
        return
    with start() as running:
        client = odoorpc.ODOO(running.host, port=running.port, timeout=30)
        client.login("edi", "admin", "admin")
        yield client

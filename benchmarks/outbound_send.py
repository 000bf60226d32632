"""Benchmark: peak memory and seconds to send one big outbound file (a CONTRL answering 500,000 messages,
about 17 MB: the acknowledgment of an inbound file of about 1 GB) to a folder outbox and to a
loopback OpenSSH sshd.

The file is recorded as the gateway records it (`Outbound.record`: rendered, read back, archived),
then sent in a fresh process of its own: by `Outbound.send` (the archived file handed to the channel,
copied a block at a time), and, as the reference in the same run, as the gateway sent it before:
the archived bytes read whole (`Archive.read`) and given to the same channel. The two alternate for
`--rounds` rounds. Prints each process's peak resident memory (VmHWM), that peak over
the process's floor (the same process, everything loaded, nothing sent), and the seconds of the send.

    python benchmarks/outbound_send.py [--answers 500000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402
from loguru import logger  # noqa: E402

from gateway.config import settings_from  # noqa: E402
from gateway.outbound import Outbound, OutboundMessage  # noqa: E402
from gateway.profiles import load_profiles  # noqa: E402
from gateway.store.archive import Archive  # noqa: E402
from gateway.store.db import open_store  # noqa: E402
from gateway.store.models import Exchange  # noqa: E402
from sshd import SshServer, missing_sshd_reason  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WAYS = ("read whole, then sent (before)", "Outbound.send (a block at a time)")


def peak_mb() -> float:
    """This process's peak resident memory since it started. VmHWM, not getrusage's ru_maxrss: that
    one keeps, across the exec, the size of the parent the process was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def outbound_for(home: Path) -> tuple[Outbound, Archive, dict]:
    settings = settings_from({"state_dir": "state", "partners_dir": "partners", "templates_dir": str(ROOT / "templates"),
                              "identity": {"edifact": {"id": "5790000000006", "qualifier": "14"}}}, home)
    store = open_store(settings.store_url)
    archive = Archive(settings.archive_dir)
    profiles = load_profiles(settings.partners_dir, settings.state_dir, settings.templates_dir)
    return Outbound(settings, store, archive, profiles), archive, profiles


def write_profiles(home: Path, server: SshServer | None) -> list[str]:
    """A partner sent to over a folder, and one over SFTP when sshd can run here."""
    (home / "partners").mkdir(parents=True)
    channels = {"folder": {"type": "folder", "inbox": "inbox/folder", "outbox": "outbox/folder"}}
    if server is not None:
        channels["sftp"] = server.channel_settings()
    for name, channel in channels.items():
        profile = {"name": name, "odoo_partner": {"ref": name.upper()},
                   "identifiers": {"edifact": {"id": "4012345000009", "qualifier": "14"}},
                   "channels": {"out": channel}, "acknowledgments": {"send": True}}
        (home / "partners" / f"{name}.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    return list(channels)


def contrl_answering(count: int) -> OutboundMessage:
    orders = ["ORDERS", "D", "96A", "UN", "EAN008"]
    segments = [["UCI", "ACME000117", ["4012345000009", "14"], ["5790000000006", "14"], "7"]]
    segments += [["UCM", str(ref), orders, "7"] for ref in range(1, count + 1)]
    return OutboundMessage("CONTRL", segments, identifier=("CONTRL", "D", "3", "UN"), summary={"answers": count})


def child(home: Path, exchange_id: int, way: int) -> None:
    """One send in this fresh process; prints its figures as JSON."""
    logger.remove()
    outbound, archive, profiles = outbound_for(home)
    with outbound.store.session() as session:
        exchange = session.get(Exchange, exchange_id)
        name, channel_name, sha256, partner = exchange.original_name, exchange.channel, exchange.sha256, exchange.partner
    channel = outbound.channel(profiles[partner], channel_name)
    floor = peak_mb()
    started = time.perf_counter()
    if way == 0:
        channel.send(name, archive.read(sha256))
    else:
        assert outbound.send(exchange_id)
    seconds = time.perf_counter() - started
    print(json.dumps({"floor": floor, "peak": peak_mb(), "seconds": seconds}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), int(args.child[2]))
        return 0
    logger.remove()
    with tempfile.TemporaryDirectory() as work:
        reason = missing_sshd_reason()
        server = None if reason else SshServer(Path(work) / "sshd").start()
        try:
            home = Path(work) / "gateway"
            partners = write_profiles(home, server)
            outbound, _, profiles = outbound_for(home)
            rows, size = [], 0
            for partner in partners:
                measured: dict[int, list[dict]] = {0: [], 1: []}
                for round_number in range(args.rounds):
                    for way in (0, 1) if round_number % 2 == 0 else (1, 0):
                        recorded = outbound.record(profiles[partner], "edifact", [contrl_answering(args.answers)])
                        with outbound.store.session() as session:
                            size = session.get(Exchange, recorded.exchange_id).size
                        done = subprocess.run([sys.executable, __file__, "--child", str(home),
                                               str(recorded.exchange_id), str(way)],
                                              capture_output=True, text=True, check=True)
                        measured[way].append(json.loads(done.stdout))
                        if server is not None:
                            for sent in server.local("outbox").iterdir():
                                sent.unlink()
                        for sent in (home / "outbox" / "folder").glob("*.edi"):
                            sent.unlink()
                for way, runs in measured.items():
                    rows.append((partner, WAYS[way], max(r["peak"] for r in runs),
                                 max(r["peak"] - r["floor"] for r in runs),
                                 statistics.median(r["seconds"] for r in runs)))
        finally:
            if server is not None:
                server.stop()
    print(f"one CONTRL answering {args.answers} messages: {size / 1e6:.1f} MB; {args.rounds} rounds, each send "
          "in a fresh process" + ("" if server else f" (no SFTP: {reason})"))
    print(f"{'channel':8} {'how':36} {'peak MB':>8} {'over floor MB':>14} {'median s':>9}")
    for partner, how, peak, over, seconds in rows:
        print(f"{partner:8} {how:36} {peak:8.0f} {over:14.0f} {seconds:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

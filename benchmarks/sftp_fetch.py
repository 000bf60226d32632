"""Benchmark: fetch 1,000 small files and 10 files of 50 MB from a loopback OpenSSH sshd.

Each batch is fetched the way the daemon does it: one connection, two listings, downloads into
the spool (on up to `max_connections` SFTP sessions at once, one sync per batch), then the
remote file is deleted and the spool file removed (no archive or store, so the figures are the
channel's own). The reference, in the same run on the same server and the same files, is a bare
paramiko loop: one connection, one listing, `SFTPClient.get` (pipelined) and `remove` for each
file, no fsync. The two alternate for `--rounds` rounds (which goes first alternates too), each
fetch in a process of its own, forked for it; the medians are compared. Prints files/s, MB/s,
the ratio to the bare loop (of the medians, and each round's), and the highest peak memory of a
fetching process (resource.getrusage; a process that fetched nothing shows the floor).

    python benchmarks/sftp_fetch.py [--small 1000] [--large 10] [--large-mb 50] [--max-connections 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import shutil
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paramiko  # noqa: E402

from gateway.channels.sftp import SftpChannel  # noqa: E402
from gateway.profiles import SftpChannelSettings  # noqa: E402
from sshd import SshServer, missing_sshd_reason  # noqa: E402

MB = 1024 * 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def bare_paramiko(server: SshServer, folder: Path) -> tuple[int, int, float]:
    """The reference: what a plain paramiko script does to fetch and delete every file."""
    folder.mkdir(parents=True, exist_ok=True)
    files = size = 0
    started = time.perf_counter()
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    client.connect("127.0.0.1", server.port, username=server.user, key_filename=str(server.client_key),
                   allow_agent=False, look_for_keys=False)
    try:
        sftp = client.open_sftp()
        inbox = server.remote("inbox")
        for entry in sftp.listdir_attr(inbox):
            sftp.get(f"{inbox}/{entry.filename}", str(folder / entry.filename))
            sftp.remove(f"{inbox}/{entry.filename}")
            files += 1
            size += entry.st_size
    finally:
        client.close()
    return files, size, time.perf_counter() - started


def fetch_all(server: SshServer, spool: Path, max_connections: int) -> tuple[int, int, float]:
    settings = SftpChannelSettings(
        name="bench/sftp", host="127.0.0.1", port=server.port, user=server.user, inbox=server.remote("inbox"),
        outbox=None, processed=None, failed=None, after="delete", patterns=("*",),
        known_hosts=server.known_hosts, key_file=server.client_key, settle_seconds=0, timeout=30,
        max_connections=max_connections)
    channel = SftpChannel(settings, spool)
    files = size = 0
    started = time.perf_counter()
    with channel.session():
        for claimed in channel.scan():
            files += 1
            size += claimed.size
            channel.done(claimed)
    return files, size, time.perf_counter() - started


def in_child(work, *args) -> tuple[int, int, float, float]:
    """`work(*args)` in a forked process of its own: (files, bytes, seconds, that process's peak RSS in MB)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        sender.send((*work(*args), peak_mb()))

    process = context.Process(target=child)
    process.start()
    result = receiver.recv()
    process.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--small-bytes", type=int, default=2048)
    parser.add_argument("--large", type=int, default=10)
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--max-connections", type=int, default=2, help="the profile's max_connections (shipped: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both fetches, alternating; medians compared")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()  # a line per file on the terminal would be timed too
    reason = missing_sshd_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    floor = in_child(lambda: (0, 0, 0.0))[3]
    rows = [("no fetch (the process's floor)", "", "", "", "", "", f"{floor:.0f}")]
    notes = []
    with tempfile.TemporaryDirectory() as work:
        server = SshServer(Path(work) / "sshd").start()
        try:
            for label, count, each in (("small", args.small, args.small_bytes),
                                       ("large", args.large, args.large_mb * MB)):
                block = os.urandom(min(each, MB))
                measured: dict[str, list[tuple[int, int, float, float]]] = {"bare paramiko": [], "edigw channel": []}
                for round_number in range(args.rounds):
                    order = list(measured) if round_number % 2 == 0 else list(reversed(measured))
                    for how in order:
                        for number in range(count):
                            path = server.local("inbox") / f"{label}-{number:05d}.edi"
                            with open(path, "wb") as writer:
                                for _ in range(max(1, each // len(block))):
                                    writer.write(block)
                        if how == "bare paramiko":
                            result = in_child(bare_paramiko, server, Path(work) / "bare")
                            shutil.rmtree(Path(work) / "bare")
                        else:
                            result = in_child(fetch_all, server, Path(work) / "spool", args.max_connections)
                        assert result[0] == count, f"{how}: fetched {result[0]} of {count} files"
                        measured[how].append(result)
                batch = f"{count} x {each / 1024:.0f} KiB" if each < MB else f"{count} x {each // MB} MB"
                median = {how: statistics.median(seconds for _, _, seconds, _ in results)
                          for how, results in measured.items()}
                for how, results in measured.items():
                    files, size = results[0][0], results[0][1]
                    seconds = median[how]
                    ratio = f"{median['bare paramiko'] / seconds:.2f}" if how == "edigw channel" else ""
                    rows.append((f"{batch}, {how}", str(files), f"{seconds:.2f}", f"{files / seconds:.1f}",
                                 f"{size / MB / seconds:.1f}", ratio, f"{max(peak for *_, peak in results):.0f}"))
                each_round = [bare[2] / edigw[2] for bare, edigw in zip(measured["bare paramiko"],
                                                                       measured["edigw channel"])]
                notes.append(f"{batch}: x bare in each round " + " ".join(f"{ratio:.2f}" for ratio in each_round))
        finally:
            server.stop()
    header = ("batch", "files", "median s", "files/s", "MB/s", "x bare", "peak RSS MB")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))))
    for note in notes:
        print(note)
    print(f"sshd {'chrooted as ' + server.user if server.chrooted else 'as ' + server.user}, loopback, "
          f"one connection per batch, max_connections {args.max_connections}, {args.rounds} round(s); MB = MiB; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())

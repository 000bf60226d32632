"""Benchmark: fetch 1,000 small files and 10 files of 50 MB from a loopback OpenSSH sshd.

Each batch is fetched the way the daemon does it: one connection, two listings, a download
into the spool, then the remote file is deleted and the spool file removed (no archive or
store, so the figures are the channel's own). Prints files/s, MB/s and the process's peak
memory (resource.getrusage, which only grows: the figure after each batch is the peak so far).

    python benchmarks/sftp_fetch.py [--small 1000] [--large 10] [--large-mb 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gateway.channels.sftp import SftpChannel  # noqa: E402
from gateway.profiles import SftpChannelSettings  # noqa: E402
from sshd import SshServer, missing_sshd_reason  # noqa: E402

MB = 1024 * 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def fetch_all(server: SshServer, spool: Path) -> tuple[int, int, float]:
    settings = SftpChannelSettings(
        name="bench/sftp", host="127.0.0.1", port=server.port, user=server.user, inbox=server.remote("inbox"),
        outbox=None, processed=None, failed=None, after="delete", patterns=("*",),
        known_hosts=server.known_hosts, key_file=server.client_key, settle_seconds=0, timeout=30)
    channel = SftpChannel(settings, spool)
    files = size = 0
    started = time.perf_counter()
    with channel.session():
        for claimed in channel.scan():
            files += 1
            size += claimed.size
            channel.done(claimed)
    return files, size, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--small-bytes", type=int, default=2048)
    parser.add_argument("--large", type=int, default=10)
    parser.add_argument("--large-mb", type=int, default=50)
    args = parser.parse_args()
    reason = missing_sshd_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    rows = [("baseline (no transfer)", "", "", "", "", f"{peak_mb():.0f}")]
    with tempfile.TemporaryDirectory() as work:
        server = SshServer(Path(work) / "sshd").start()
        try:
            for label, count, each in (("small", args.small, args.small_bytes),
                                       ("large", args.large, args.large_mb * MB)):
                block = os.urandom(min(each, MB))
                for number in range(count):
                    path = server.local("inbox") / f"{label}-{number:05d}.edi"
                    with open(path, "wb") as writer:
                        for _ in range(max(1, each // len(block))):
                            writer.write(block)
                files, size, seconds = fetch_all(server, Path(work) / "spool")
                assert files == count, f"fetched {files} of {count} files"
                rows.append((f"{count} x {each / 1024:.0f} KiB" if each < MB else f"{count} x {each // MB} MB",
                             str(files), f"{seconds:.2f}", f"{files / seconds:.1f}", f"{size / MB / seconds:.1f}",
                             f"{peak_mb():.0f}"))
        finally:
            server.stop()
    header = ("batch", "files", "seconds", "files/s", "MB/s", "peak RSS MB")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))))
    print(f"sshd {'chrooted as ' + server.user if server.chrooted else 'as ' + server.user}, loopback, "
          "one connection per batch; MB = MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

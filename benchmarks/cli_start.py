"""How long `edigw` takes to answer: `--help` and `messages list` against `python -c pass`, same run.

Each command is started as its own process (as an operator or a test starts it) several times;
the median wall time is printed with the ratio to a bare interpreter's start, measured here too.
The store is a fresh SQLite file under a temporary folder, made once before timing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 9


def timed(command: list[str], env_config: Path) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={"EDIGW_CONFIG": str(env_config), "PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "gateway.toml"
        config.write_text('state_dir = "state"\n', encoding="utf-8")
        edigw = [python, "-m", "gateway"]
        subprocess.run([*edigw, "messages", "list"], check=True, stdout=subprocess.DEVNULL,
                       env={"EDIGW_CONFIG": str(config), "PATH": "/usr/bin:/bin"})
        reference = timed([python, "-c", "pass"], config)
        rows = [("python -c pass", reference, None),
                ("edigw --help", timed([*edigw, "--help"], config), 0.2),
                ("edigw messages list", timed([*edigw, "messages", "list"], config), 0.4)]
    print(f"median wall time of {RUNS} starts each, one process per start")
    print(f"{'command':<24}{'seconds':>9}{'× python':>10}{'goal':>8}")
    for name, seconds, goal in rows:
        print(f"{name:<24}{seconds:>9.3f}{seconds / reference:>10.1f}{(f'< {goal}' if goal else ''):>8}")


if __name__ == "__main__":
    main()

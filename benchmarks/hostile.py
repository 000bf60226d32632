"""Hostile small files: processing time per megabyte as they grow, against ordinary orders of the same size.

Issue 13 (item 3) found files of a few hundred KB that took minutes: an 856 with thousands of
HL loops, thousands of TA1 segments, thousands of UNB headers. Each kind is generated at a
size and at four times that size and taken through the whole inbound pipeline in this
process (intake, archive, parse, translate, store, acknowledgment) on a fresh SQLite store.
Linear processing keeps the ratio of the two times near 4; the reference in the same run is
an ordinary interchange of X12 850 orders of the same sizes (benchmarks.generate).

    .venv/bin/python benchmarks/hostile.py [--size 1000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generate import x12_bytes  # noqa: E402

ISA = b"ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261120*0815*U*00401*000000001*0*P*>~\n"


def ship_notice(loops: int) -> bytes:
    """One 856 with `loops` HL loops: a shipment, an order, then packs of nine items each."""
    segments = ["GS*SH*BIGBOX*NORDICSUPPLY*20261120*0815*1*X*004010", "ST*856*0001",
                "BSN*00*SN0001*20261120*0815", "HL*1**S", "N1*ST**92*STORE1", "HL*2*1*O", "PRF*PO-1"]
    pack = 2
    for number in range(3, loops + 1):
        if (number - 3) % 10 == 0:
            pack = number
            segments += [f"HL*{number}*2*P", f"MAN*GM*{number:020d}"]
        else:
            segments += [f"HL*{number}*{pack}*I", f"LIN**UP*{number:012d}", "SN1**1*EA"]
    segments += [f"CTT*{loops}", f"SE*{len(segments)}*0001", "GE*1*1"]
    return ISA + "~\n".join(segments).encode() + b"~\nIEA*1*000000001~\n"


def technical_acks(count: int) -> bytes:
    return ISA + b"".join(f"TA1*{n:09d}*261120*0815*A*000~\n".encode() for n in range(count)) + b"IEA*0*000000001~\n"


def interchange_headers(count: int) -> bytes:
    return b"".join(f"UNB+UNOC:3+4012345000009:14+5790000000006:14+261120:0815+{n}'\n".encode()
                    for n in range(count))


def orders_of_size(size: int) -> bytes:
    one = len(x12_bytes(1))
    return x12_bytes(max(1, size // one))


# One partner that receives all three kinds, from any sender, and acknowledges every interchange.
PROFILE = """\
name: Hostile (benchmark)
odoo_partner: {ref: HOSTILE}
channels:
  inbox: {type: folder, inbox: inbox/hostile, outbox: outbox/hostile}
receive:
  "850": {template: x12/850_004010}
  "856": {template: x12/856_004010}
  ORDERS: {template: edifact/ORDERS_D96A}
acknowledgments: {send: true}
"""


def run_through_pipeline(data: bytes) -> float:
    """Seconds (CPU time of this process) from intake to the acknowledgment, on a fresh store."""
    from gateway.app import App
    from gateway.channels.base import ClaimedFile
    from gateway.config import load_settings

    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "gateway.toml"
        (Path(home) / "partners").mkdir()
        (Path(home) / "partners" / "hostile.yaml").write_text(PROFILE, encoding="utf-8")
        config.write_text(f'state_dir = "{home}/state"\npartners_dir = "{home}/partners"\n', encoding="utf-8")
        app = App(load_settings(str(config)))
        pipeline = app.pipeline
        claimed = ClaimedFile(path=Path(home) / "file", original_name="file", size=len(data), channel="bench",
                              mtime=time.time())
        started = time.process_time()
        exchange = pipeline.intake(app.profiles["hostile"], claimed, io.BytesIO(data))
        pipeline.process(exchange)
        seconds = time.process_time() - started
        app.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="HL loops, TA1 segments and UNB headers at 1x")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from loguru import logger

    logger.remove()
    kinds = [("856 HL loops", ship_notice), ("TA1 segments", technical_acks), ("UNB headers", interchange_headers)]
    print(f"one core, CPU seconds through intake → parse → translate → store → acknowledgment; n = {args.size}")
    print(f"{'file':<34} {'KB at n':>8} {'s at n':>8} {'s at 4n':>8} {'4n / n':>7} {'s/MB at 4n':>10}")
    for name, make in kinds:
        small, big = make(args.size), make(4 * args.size)
        reference_small, reference_big = orders_of_size(len(small)), orders_of_size(len(big))
        for label, one, four in ((name, small, big), ("  reference: 850 orders, same size", reference_small,
                                                      reference_big)):
            at_n, at_4n = run_through_pipeline(one), run_through_pipeline(four)
            print(f"{label:<34} {len(one) / 1000:>8.0f} {at_n:>8.2f} {at_4n:>8.2f} {at_4n / at_n:>7.1f} "
                  f"{at_4n / (len(four) / 1e6):>10.1f}")


if __name__ == "__main__":
    main()

"""Generated files for the benchmarks: many orders in one EDIFACT or X12 interchange, or one CSV file.

Each order has a buyer, a supplier, a delivery party and `lines` order lines, as a real
retail order does; the numbers vary so that no two messages are alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator


def edifact_orders(count: int, lines: int = 5) -> Iterator[bytes]:
    yield b"UNA:+.? '\nUNB+UNOC:3+4012345000009:14+5790000000006:14+261120:0815+BENCH1'\n"
    for number in range(1, count + 1):
        segments = [
            f"UNH+{number}+ORDERS:D:96A:UN:EAN008",
            f"BGM+220+PO{number:08d}+9",
            "DTM+137:20261120:102",
            "DTM+2:20261127:102",
            "NAD+BY+4012345000009::9++ACME Retail GmbH+Hafenstrasse 12+Hamburg++20457+DE",
            "NAD+SU+5790000000006::9",
            f"NAD+DP+40123450{number % 100000:05d}::9",
            "CUX+2:EUR:9",
        ]
        for line in range(1, lines + 1):
            segments += [
                f"LIN+{line}++57900{(number * 7 + line) % 10**8:08d}:EN",
                f"PIA+1+AX-{line:03d}:SA",
                f"QTY+21:{(number + line) % 97 + 1}:PCE",
                f"PRI+AAA:{(number % 50) + line}.{line * 7 % 100:02d}",
            ]
        segments += ["UNS+S", f"CNT+2:{lines}"]
        segments.append(f"UNT+{len(segments) + 1}+{number}")
        yield ("'\n".join(segments) + "'\n").encode("latin-1")
    yield f"UNZ+{count}+BENCH1'\n".encode("latin-1")


def x12_orders(count: int, lines: int = 5) -> Iterator[bytes]:
    yield (b"ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   "
           b"*261120*0930*U*00401*000000311*0*P*>~\nGS*PO*BIGBOX*NORDICSUPPLY*20261120*0930*311*X*004010~\n")
    for number in range(1, count + 1):
        segments = [
            f"ST*850*{number:04d}",
            f"BEG*00*SA*PO{number:08d}**20261120",
            "CUR*BY*USD",
            "DTM*002*20261204",
            "N1*BY*BigBox Stores Inc*UL*0614141000012",
            f"N1*ST*BigBox DC {number % 100}*UL*0614141{number % 100000:05d}",
            "N3*1200 Commerce Way",
            "N4*Columbus*OH*43215*US",
        ]
        for line in range(1, lines + 1):
            segments += [
                f"PO1*{line}*{(number + line) % 97 + 1}*EA*{(number % 50) + line}.{line * 7 % 100:02d}"
                f"**UP*0614141{(number * 7 + line) % 10**5:05d}*VN*AX-{line:03d}",
                f"PID*F****Item {line} of order {number}",
            ]
        segments.append(f"CTT*{lines}")
        segments.append(f"SE*{len(segments) + 1}*{number:04d}")
        yield ("~\n".join(segments) + "~\n").encode("latin-1")
    yield f"GE*{count}*311~\nIEA*1*000000311~\n".encode("latin-1")


def csv_orders(count: int, lines: int = 5) -> Iterator[bytes]:
    """The same orders as the Corner Shop sends them (`csv/orders_flat`): one row per order line."""
    yield b"LINE_NUMBER,UPC_NUMBER,QUANTITY,PRICE,UOM,PO_NUMBER,PO_DATE,CUSTOMER_NAME,CUSTOMER_NUMBER,ADDRESS,CITY,STATE,POSTAL_CODE\n"
    for number in range(1, count + 1):
        yield "".join(
            f"{line},57900{(number * 7 + line) % 10**8:08d},{(number + line) % 97 + 1},{(number % 50) + line}."
            f"{line * 7 % 100:02d},PCE,CS-{number:08d},20261120,Corner Shop Ltd,CS01,12 High Street,Leeds,,LS1 4AB\n"
            for line in range(1, lines + 1)).encode("utf-8")


CHUNKS = {"edifact": edifact_orders, "x12": x12_orders, "csv": csv_orders}


def edifact_bytes(count: int, lines: int = 5) -> bytes:
    return b"".join(edifact_orders(count, lines))


def x12_bytes(count: int, lines: int = 5) -> bytes:
    return b"".join(x12_orders(count, lines))


def main() -> None:
    parser = argparse.ArgumentParser(description="write a generated interchange of orders")
    parser.add_argument("standard", choices=tuple(CHUNKS))
    parser.add_argument("count", type=int)
    parser.add_argument("output", type=Path)
    parser.add_argument("--lines", type=int, default=5)
    args = parser.parse_args()
    with args.output.open("wb") as out:
        for chunk in CHUNKS[args.standard](args.count, args.lines):
            out.write(chunk)


if __name__ == "__main__":
    main()

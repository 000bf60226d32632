"""The README's main command: `edigw demo` on a fresh folder makes the samples' sale orders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys


def test_demo_delivers_every_shipped_sample_into_the_sandbox_and_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EDIGW_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "gateway", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Sale orders in Odoo (5):" in done.stdout
    for reference in ("4500012", "4500013", "PO-77812", "CS-1001", "CS-1002"):
        assert f" {reference} " in done.stdout
    # The log says what each order became, in words a reader takes as written.
    created = dict(re.findall(r"sale order \S+ created for corner-shop (CS-\d+) \((\d+ lines?)\)", done.stderr))
    assert created == {"CS-1001": "2 lines", "CS-1002": "1 line"}, done.stderr
    listed = subprocess.run([sys.executable, "-m", "gateway", "messages", "list", "--json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    messages = json.loads(listed.stdout)
    received = [m for m in messages if m["direction"] == "in"]
    assert sorted(m["document_number"] for m in received) == ["4500012", "4500013", "CS-1001", "CS-1002", "PO-77812"]
    assert {m["state"] for m in received} == {"delivered"}
    sent = sorted((m["partner"], m["type"], m["state"]) for m in messages if m["direction"] == "out")
    assert sent == [("acme-retail", "CONTRL", "sent"), ("bigbox-stores", "997", "sent")]
    assert "outbox/acme-retail/CONTRL_1.edi" in done.stdout and "outbox/bigbox-stores/997_000000001.x12" in done.stdout

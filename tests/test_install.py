"""The gateway installed from its wheel (as the systemd unit expects, `/opt/edigw/.venv`), not from
the checkout: the base templates, example partners and samples travel inside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS_850 = ROOT.parent / "shared" / "corpus" / "x12" / "850" / "bots_850_004010_isa00200.x12"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv outside the source tree with the gateway installed from a wheel built here."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), str(ROOT)], cwd=work, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("edigw-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=work,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return venv


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("EDIGW_CONFIG", "PYTHONPATH")}
    return subprocess.run([str(venv / "bin" / "edigw"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_installed_gateway_does_not_read_the_source_tree(installed, tmp_path):
    found = subprocess.run([str(installed / "bin" / "python"), "-c", "import gateway; print(gateway.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert str(installed) in found.stdout and str(ROOT) not in found.stdout


def test_an_installed_gateway_reads_an_x12_850_with_its_shipped_base_template(installed, tmp_path):
    done = run(installed, "inspect", str(CORPUS_850), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    messages = [m for interchange in report["interchanges"] for m in interchange["messages"]]
    assert [m["type"] for m in messages] == ["850"]
    assert messages[0]["document"]["document_number"], messages[0]
    assert "no base template" not in done.stdout


def test_an_installed_gateway_runs_the_demo_from_its_shipped_partners_and_samples(installed, tmp_path):
    done = run(installed, "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sale orders in Odoo (5):" in done.stdout
    assert "outbox/bigbox-stores/997_000000001.x12" in done.stdout


def test_a_templates_dir_adds_to_the_base_templates_and_overrides_them_by_name(installed, tmp_path):
    own = tmp_path / "templates" / "x12"
    own.mkdir(parents=True)
    base = installed.glob("lib/python*/site-packages/gateway/_shipped/templates/x12/850_004010.yaml")
    text = next(base).read_text(encoding="utf-8")
    assert '  note: "NTE/NTE02"' in text
    (own / "850_004010.yaml").write_text(text.replace('  note: "NTE/NTE02"', '  note: "BEG/BEG03"'), encoding="utf-8")
    (tmp_path / "gateway.toml").write_text('templates_dir = "templates"\n', encoding="utf-8")
    done = run(installed, "inspect", str(CORPUS_850), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    document = report["interchanges"][0]["messages"][0]["document"]
    assert document["note"] == document["document_number"]
    edifact = run(installed, "inspect", str(ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"),
                  "--json", cwd=tmp_path)
    assert edifact.returncode == 0 and '"4500012"' in edifact.stdout, edifact.stdout + edifact.stderr

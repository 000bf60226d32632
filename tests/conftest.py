"""Shared test fixtures: where the shared test material lives."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
TRANSCRIPTS = SHARED / "odoo-transcripts"


@pytest.fixture
def corpus() -> Path:
    return CORPUS


@pytest.fixture(autouse=True)
def no_daemon_left_running():
    """A test that fails halfway must not leave an `edigw run` behind, holding its store."""
    yield
    from gateway_fixtures import STARTED

    while STARTED:
        daemon = STARTED.pop()
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)

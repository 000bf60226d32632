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

"""Where the base templates, example partners and samples are: in the package when installed
(`gateway/_shipped/`, copied there by the build), else at the top of the source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_SOURCE_TREE = _PACKAGE.parent


def shipped(folder: str) -> Path:
    """`templates`, `partners` or `samples` as this installation carries them."""
    installed = _PACKAGE / "_shipped" / folder
    return installed if installed.is_dir() else _SOURCE_TREE / folder


BASE_TEMPLATES = shipped("templates")
EXAMPLE_PARTNERS = shipped("partners")
SAMPLES = shipped("samples")

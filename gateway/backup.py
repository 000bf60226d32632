"""Backing up and restoring one gateway: a consistent copy of the store and the archive, in a folder.

SQLite's online backup API copies the store while the daemon runs (a consistent snapshot,
page by page); the archive's files never change once written, so copying them after the
store's snapshot includes every file the snapshot names. PostgreSQL stores are backed up with
pg_dump (the README says how); the archive is copied here all the same.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from gateway.config import Settings

MANIFEST = "edigw-backup.json"


class BackupError(Exception):
    """The backup or restore could not be done; the text says why and what to do."""


def _sqlite_file(settings: Settings) -> Path | None:
    url = settings.store_url
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def backup(settings: Settings, destination: Path) -> dict:
    """Write the store's snapshot and the archive under `destination` (new or empty); returns the manifest."""
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty: back up into a new folder")
    store = _sqlite_file(settings)
    destination.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "store": "sqlite" if store else "postgresql"}
    if store is not None:
        if not store.is_file():
            raise BackupError(f"there is no store at {store} to back up")
        with closing(sqlite3.connect(store)) as source, closing(sqlite3.connect(destination / "edigw.db")) as copy:
            source.backup(copy)
            revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            manifest["revision"] = revision[0] if revision else None
            names = {row[0] for row in copy.execute("SELECT DISTINCT sha256 FROM exchanges")}
    else:
        manifest["note"] = "PostgreSQL: back the store up with pg_dump -Fc (README, Operations)"
        names = set()
    files = 0
    if settings.archive_url:  # the archive is rows of a database: backed up with it (pg_dump)
        manifest["archive"] = "in the database of [archive] url: back it up with that database"
        names = set()
    elif settings.archive_dir.is_dir():
        shutil.copytree(settings.archive_dir, destination / "archive", dirs_exist_ok=True)
        files = sum(1 for path in (destination / "archive").rglob("*") if path.is_file())
    missing = sorted(name for name in names
                     if not (destination / "archive" / name[:2] / name[2:4] / name).is_file())
    if missing:
        raise BackupError(f"{len(missing)} archived file(s) the store names are missing from the archive "
                          f"(first: {missing[0]}); the backup in {destination} is incomplete")
    manifest["archive_files"] = files
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def restore(settings: Settings, source: Path, force: bool = False) -> dict:
    """Put a backup made by `backup` back in place of the store and the archive (stop the daemon first)."""
    manifest_file = source / MANIFEST
    if not manifest_file.is_file():
        raise BackupError(f"{source} is not an edigw backup (no {MANIFEST})")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    store = _sqlite_file(settings)
    if manifest["store"] == "sqlite":
        if store is None:
            raise BackupError("this backup holds a SQLite store but [store] url is PostgreSQL")
        if store.exists() and not force:
            raise BackupError(f"{store} exists: stop the daemon, then restore with --force to replace it")
        store.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
            leftover.unlink(missing_ok=True)
        with closing(sqlite3.connect(source / "edigw.db")) as backup_copy, closing(sqlite3.connect(store)) as target:
            backup_copy.backup(target)
    if (source / "archive").is_dir():
        shutil.copytree(source / "archive", settings.archive_dir, dirs_exist_ok=True)
    return manifest

"""Backup and restore of the SQLite default (备份与恢复), for a small office's `make run`.

A backup is a folder: each service's database copied with SQLite's online backup API (a
consistent copy even while the services run), and ``manifest.json`` with each file's SHA-256,
its migration revision and the moment it was taken. Restoring checks the manifest before it
touches anything, then replaces each database file atomically (a copy beside it, renamed over).
The keyring, the signing key and the checkpoint file are not in the backup, on purpose: they
are kept apart from the data (deploy/README.md). PostgreSQL is backed up with pg_dump.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.settings import SERVICES, ServiceName, Settings

MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup that cannot be taken or restored; ``code`` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class BackedUp:
    service: ServiceName
    file: Path
    revision: str | None
    sha256: str


def _database_file(settings: Settings, service: ServiceName) -> Path:
    if settings.database_url:
        raise BackupError(
            "not_sqlite",
            "HUODIAN_DATABASE_URL is set: back up PostgreSQL with pg_dump (deploy/README.md)",
        )
    return settings.var_dir / f"{service}.db"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _revision(path: Path) -> str | None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        connection.close()
    return str(row[0]) if row else None


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while a service writes."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # A plain file, whatever journal the source kept: no -wal/-shm beside the copy.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def take_backup(settings: Settings, into: Path, *, now: datetime) -> tuple[Path, list[BackedUp]]:
    """Copy every service's database into a new folder under ``into``."""
    sources = {service: _database_file(settings, service) for service in SERVICES}
    missing = [str(path) for path in sources.values() if not path.exists()]
    if missing:
        raise BackupError(
            "database_missing", f"no database at {', '.join(missing)}: run 'huodian migrate'"
        )
    folder = into / f"huodian-{now.strftime('%Y%m%dT%H%M%SZ')}"
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        raise BackupError("backup_exists", f"{folder} exists already") from None
    done = []
    for service, source in sources.items():
        target = folder / f"{service}.db"
        _copy(source, target)
        done.append(BackedUp(service, target, _revision(target), _digest(target)))
    manifest = {
        "taken_at": now.isoformat(),
        "databases": {
            item.service: {"file": item.file.name, "sha256": item.sha256, "revision": item.revision}
            for item in done
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return folder, done


def restore_backup(settings: Settings, folder: Path) -> list[BackedUp]:
    """Replace every service's database with the backup's, after checking all of it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        entries = manifest["databases"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(
            "backup_unreadable", f"{folder} is not a Huodian backup (no readable {MANIFEST})"
        ) from None
    checked = []
    for service in SERVICES:
        entry = entries.get(service) if isinstance(entries, dict) else None
        if not isinstance(entry, dict):
            raise BackupError("backup_incomplete", f"the backup has no {service} database")
        file = folder / Path(str(entry.get("file", ""))).name  # never a path out of the folder
        if not file.is_file() or _digest(file) != entry.get("sha256"):
            raise BackupError(
                "backup_damaged", f"{file.name} is missing or differs from the manifest"
            )
        checked.append(BackedUp(service, file, entry.get("revision"), str(entry["sha256"])))
    for item in checked:
        target = _database_file(settings, item.service)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.restoring")
        _copy(item.file, staging)
        for suffix in ("-wal", "-shm"):  # the old database's journal must not replay over it
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(staging, target)
    return checked

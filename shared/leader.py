"""Exactly one leader across replicas (主副本): whoever holds the lock runs the work that must
run once — notify's scheduler (主调度), intake's integrity jobs (checkpoints and verification).

On PostgreSQL the lock is a session-level advisory lock, keyed by the lock id and the service's
schema (so deployments sharing a server do not contend), held on a connection kept open for as
long as the replica leads; if the replica dies, its connection closes and the lock is free. On
SQLite (one machine) it is an exclusive ``flock`` on a file beside the database.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class LeaderLock(Protocol):
    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True if this holder has it (now or already)."""

    async def still_held(self) -> bool:
        """Whether the lock is still ours (a lost database connection loses it)."""

    async def release(self) -> None: ...


def leader_lock(engine: AsyncEngine, lock_file: Path, key: int) -> LeaderLock:
    """The lock for ``engine``'s deployment: an advisory lock with ``key`` on PostgreSQL, an
    ``flock`` on ``lock_file`` (beside the database) on SQLite."""
    if engine.dialect.name == "sqlite":
        return FileLock(lock_file)
    return AdvisoryLock(engine, key)


class AdvisoryLock:
    def __init__(self, engine: AsyncEngine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._connection: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        if self._connection is not None:
            return True
        connection = await self._engine.connect()
        try:
            result = await connection.execute(
                text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"),
                {"key": self._key},
            )
            taken = bool(result.scalar())
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # the connection is already broken; the server freed the lock
                pass

    async def release(self) -> None:
        if self._connection is None:
            return
        try:
            await self._connection.execute(
                text("SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"),
                {"key": self._key},
            )
            await self._connection.commit()
        finally:
            await self._drop()


class FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

"""Who writes the stage log (环节记录), and who is told of each entry.

The log (:mod:`services.intake.applications.log`) is core and imports no domain above it; the
portal's status callbacks (门户回调) hang on it from here. Every process that writes the log
(the app, the integrity jobs and commands, ``huodian migrate``'s re-seal) registers through
:func:`write_log_through`, so a portal application is called back however its log grew.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.applications.log import EventListener, KeyringSource, use_keyring
from services.intake.portal.webhooks import queue_status_callback
from shared.settings import Settings

LISTENERS: tuple[EventListener, ...] = (queue_status_callback,)


def write_log_through(engine: AsyncEngine, source: KeyringSource) -> None:
    """Entries written through ``engine`` are sealed with ``source`` and reach the listeners."""
    use_keyring(engine, source, listeners=LISTENERS)


async def attach_keyring(app: FastAPI) -> None:
    """Startup hook: the app's engine writes log entries with the deployment's keyring."""
    settings: Settings = app.state.settings
    write_log_through(app.state.engine, settings.keyring)

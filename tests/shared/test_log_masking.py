"""Every service masks ID numbers and mobiles in its logs (shared.masking), the access log's
query strings included: the filter goes on the handlers when the app starts."""

from __future__ import annotations

import io
import logging

import pytest

from services.intake.app import create_app as create_intake
from services.ledger.app import create_app as create_ledger
from services.notify.app import create_app as create_notify
from services.notify.settings import NotifySettings
from shared.masking import SensitiveDataFilter, install_log_masking


@pytest.mark.parametrize(
    "make",
    [
        create_intake,
        create_ledger,
        lambda s: create_notify(s, NotifySettings(worker_enabled=False, scheduler_enabled=False)),
    ],
    ids=["intake", "ledger", "notify"],
)
async def test_the_access_log_never_shows_a_mobile_or_an_id_number(settings, make):
    access = logging.getLogger("uvicorn.access")
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    access.addHandler(handler)
    try:
        app = make(settings)
        async with app.router.lifespan_context(app):
            access.warning(
                '%s - "%s %s HTTP/1.1" %d',
                "127.0.0.1:5000",
                "GET",
                "/subscribers?q=13943901234&id=370502198001011239",
                200,
            )
        assert any(isinstance(f, SensitiveDataFilter) for f in handler.filters)
    finally:
        access.removeHandler(handler)
    line = written.getvalue()
    assert "/subscribers?q=139****1234&id=370502********1239" in line
    assert "13943901234" not in line


def test_the_services_own_warnings_are_masked_without_a_root_handler(capsys):
    """Under uvicorn the root logger has no handler, so a warning of ``shared.errors`` (an
    integrity error with its SQL parameters) is written by logging's last resort."""
    install_log_masking(logging.getLogger())
    assert logging.lastResort is not None
    record = logging.LogRecord(
        "shared.errors", logging.WARNING, __file__, 1, "integrity error: %s", ("13943901234",), None
    )
    logging.lastResort.handle(record)
    written = capsys.readouterr().err
    assert "139****1234" in written
    assert "13943901234" not in written

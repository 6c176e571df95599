"""Structured logs and request ids (shared.logs): the middleware, the JSON formatter, the
config that ``huodian up`` and deploy/ give uvicorn, and ServiceClient passing the id on."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.http import ServiceClient
from shared.logs import (
    ACCESS_LOGGER,
    JsonFormatter,
    RequestIdMiddleware,
    current_request_id,
    logging_config,
    request_id_scope,
)
from shared.masking import SensitiveDataFilter
from tests.conftest import client_for

REPO = Path(__file__).resolve().parents[2]


class _Lines:
    """The lines written so far, parsed each time they are read."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[dict[str, object]]:
        return iter([json.loads(line) for line in self._stream.getvalue().splitlines()])


@pytest.fixture
def lines() -> Iterator[_Lines]:
    """The JSON lines that ``huodian.access`` and ``huodian.test`` write while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SensitiveDataFilter())
    loggers = [logging.getLogger(ACCESS_LOGGER), logging.getLogger("huodian.test")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    try:
        yield _Lines(stream)
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate


def _app(seen: list[str | None]) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        seen.append(current_request_id())
        logging.getLogger("huodian.test").info("serving %s", thing)
        return {"thing": thing}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    app.add_middleware(RequestIdMiddleware, service="intake")
    return app


async def _get(app: FastAPI, path: str, **headers: str | bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


class TestMiddleware:
    async def test_a_well_formed_id_is_kept_echoed_and_on_every_line(self, lines):
        seen: list[str | None] = []
        response = await _get(_app(seen), "/things/a", **{"X-Request-Id": "portal:2026-03.a_1"})
        assert response.headers["X-Request-Id"] == "portal:2026-03.a_1"
        assert seen == ["portal:2026-03.a_1"]
        assert [line["request_id"] for line in lines] == ["portal:2026-03.a_1"] * 2
        assert {line["service"] for line in lines} == {"intake"}
        assert current_request_id() is None  # not left behind after the request

    @pytest.mark.parametrize(
        "given",
        ["", "x" * 65, "has space", "中文号".encode(), "a/b", 'id"}{', "13943901234;drop"],
    )
    async def test_a_malformed_id_is_replaced(self, lines, given):
        seen: list[str | None] = []
        response = await _get(_app(seen), "/things/a", **{"X-Request-Id": given})
        echoed = response.headers["X-Request-Id"]
        assert echoed != given
        assert len(echoed) == 32
        assert int(echoed, 16) >= 0
        assert seen == [echoed]
        assert all(line["request_id"] == echoed for line in lines)

    async def test_without_an_id_one_is_made_per_request(self, lines):
        app = _app([])
        first = (await _get(app, "/things/a")).headers["X-Request-Id"]
        second = (await _get(app, "/things/b")).headers["X-Request-Id"]
        assert first != second

    async def test_one_access_line_per_request_with_route_and_masked_path(self, lines):
        app = _app([])
        await _get(app, "/things/13943901234?q=220622198001011234&page=2")
        await _get(app, "/nothing-here")
        access = [line for line in lines if line["logger"] == ACCESS_LOGGER]
        assert len(access) == 2
        first, second = access
        assert first["method"] == "GET"
        assert first["route"] == "/things/{thing}"
        assert first["path"] == "/things/139****1234?q=220622********1234&page=2"
        assert first["status"] == 200
        assert isinstance(first["duration_ms"], float)
        assert first["duration_ms"] >= 0
        assert first["client"] == "127.0.0.1"
        assert first["service"] == "intake"
        assert first["request_id"]
        assert second["status"] == 404
        assert second["route"] is None
        text = json.dumps(list(lines))
        assert "13943901234" not in text
        assert "220622198001011234" not in text

    async def test_a_failing_request_is_logged_as_500(self, lines):
        response = await _get(_app([]), "/broken", **{"X-Request-Id": "req-500"})
        assert response.status_code == 500
        access = [line for line in lines if line["logger"] == ACCESS_LOGGER]
        assert [(a["status"], a["request_id"]) for a in access] == [(500, "req-500")]


async def test_the_service_apps_echo_the_id_and_error_answers_carry_it(apps):
    async with client_for(apps.notify) as client:
        ok = await client.get("/healthz", headers={"X-Request-Id": "abc-1"})
        missing = await client.get("/no/such/thing", headers={"X-Request-Id": "abc-2"})
    assert ok.headers["X-Request-Id"] == "abc-1"
    assert missing.status_code == 404
    assert missing.headers["X-Request-Id"] == "abc-2"


class TestFormatter:
    def _format(self, record: logging.LogRecord) -> dict[str, object]:
        SensitiveDataFilter().filter(record)
        parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
        return parsed

    def test_fields_extras_and_the_current_request_id(self):
        record = logging.LogRecord("huodian.x", logging.WARNING, "f.py", 1, "a %s", ("b",), None)
        record.message_id = 7
        with request_id_scope("worker-1"):
            line = self._format(record)
        assert line["level"] == "warning"
        assert line["logger"] == "huodian.x"
        assert line["message"] == "a b"
        assert line["request_id"] == "worker-1"
        assert line["message_id"] == 7
        assert str(line["ts"]).endswith("+00:00")

    def test_a_record_s_own_request_id_wins(self):
        record = logging.LogRecord("huodian.x", logging.INFO, "f.py", 1, "m", None, None)
        record.request_id = "queued-by-1"
        with request_id_scope("other"):
            assert self._format(record)["request_id"] == "queued-by-1"

    def test_personal_data_is_masked_in_message_extras_and_exceptions(self):
        try:
            raise ValueError("bad 13943901234")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
        record = logging.LogRecord(
            "huodian.x", logging.ERROR, "f.py", 1, "id %s", ("220622198001011234",), exc_info
        )
        record.mobile = "13943905678"
        text = json.dumps(self._format(record), ensure_ascii=False)
        for number in ("13943901234", "220622198001011234", "13943905678"):
            assert number not in text
        assert "139****5678" in text

    def test_request_id_scope_replaces_a_malformed_id_and_restores(self):
        with request_id_scope("bad id") as made:
            assert made != "bad id"
            assert current_request_id() == made
        assert current_request_id() is None


class TestConfig:
    def test_the_shipped_file_is_the_config_at_info(self):
        shipped = json.loads((REPO / "shared" / "logging.json").read_text())
        assert shipped == logging_config("info")

    def test_deploy_starts_uvicorn_with_it_and_without_its_access_log(self):
        files = [
            REPO / "deploy" / "compose.yaml",
            REPO / "deploy" / "systemd" / "huodian@.service",
            *(REPO / "deploy" / "k8s").glob("*.yaml"),
        ]
        for file in files:
            text = file.read_text()
            starts = text.count("create_app")
            if starts:
                assert text.count("/opt/huodian/shared/logging.json") == starts, file
                assert text.count("--no-access-log") == starts, file

    def test_the_config_writes_masked_json_lines(self, capsys):
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            logging.config.dictConfig(logging_config("warning"))
            logging.getLogger("huodian.test").warning("call 13943901234")
            logging.getLogger(ACCESS_LOGGER).info("hidden at warning")
        finally:
            for handler in root.handlers:
                root.removeHandler(handler)
            for handler in saved[0]:
                root.addHandler(handler)
            root.setLevel(saved[1])
            logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET)
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
                logging.getLogger(name).setLevel(logging.NOTSET)
        written = capsys.readouterr().err.splitlines()
        assert [json.loads(line)["message"] for line in written] == ["call 139****1234"]


async def test_service_client_passes_the_current_request_id_on(settings):
    received: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request.headers.get("X-Request-Id"))
        return httpx.Response(200, json={})

    client = ServiceClient(
        settings, "intake", client=httpx.AsyncClient(transport=httpx.MockTransport(answer))
    )
    try:
        with request_id_scope("portal-77"):
            await client.request("notify", "GET", "/healthz")
        await client.request("notify", "GET", "/healthz")
    finally:
        await client.aclose()
    assert received == ["portal-77", None]

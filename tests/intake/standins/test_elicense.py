"""The e-license adapter against the stand-in: in-process, and once over real HTTP."""

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import date

import httpx
import pytest

from services.intake.rules.identity import parse_credit_code, parse_resident_id
from services.intake.standins.elicense import (
    VERIFY_PATH,
    ELicenseClient,
    LicenceOutcome,
    LicenceRecord,
    LicenceStatus,
    LicenceType,
    create_standin_app,
    load_standin_records,
)
from shared.clock import FixedClock
from shared.errors import Unprocessable, UpstreamUnavailable
from tests.intake.conftest import beijing
from tests.ports import free_port

TODAY = date(2025, 6, 1)


def noon(day: date):
    return beijing(f"{day.isoformat()} 12:00")


BASE = "http://elicense.test"
COMPANY = ("91370502MA3C8T1Q2E", "东营市获电测试电器有限公司")


def standin_client(**app_kwargs):
    app = create_standin_app(clock=FixedClock(noon(TODAY)), **app_kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def http():
    async with standin_client() as client:
        yield client


@pytest.fixture
def elicense(http):
    return ELicenseClient(BASE, http)


class TestRecords:
    def test_numbers_are_well_formed(self):
        records = load_standin_records()
        assert {t: sum(r.type is t for r in records) for t in LicenceType} == {
            LicenceType.business_licence: 5,
            LicenceType.id_card: 4,
            LicenceType.real_estate: 3,
        }
        for record in records:
            if record.type is LicenceType.id_card:
                assert parse_resident_id(record.number, today=TODAY).number == record.number
            elif record.type is LicenceType.business_licence:
                assert parse_credit_code(record.number).code == record.number
            else:
                assert "不动产权第" in record.number
        assert len({(r.type, r.number) for r in records}) == len(records)

    def test_holders_are_fictitious(self):
        names = [r.holder for r in load_standin_records()]
        assert all("测试" in name for name in names)


class TestStandinShape:
    async def test_valid_licence(self, http):
        response = await http.post(
            VERIFY_PATH,
            json={"type": "business_licence", "number": COMPANY[0], "holder": COMPANY[1]},
        )
        assert response.status_code == 200
        assert response.json() == {
            "valid": True,
            "result": "valid",
            "type": "business_licence",
            "number": "91370502MA3C8T1Q2E",
            "holder": "东营市获电测试电器有限公司",
            "issued_on": "2018-05-16",
            "expires_on": None,
            "issuer": "东营市东营区市场监督管理局",
            "address": "山东省东营市东营区测试路1号",
        }

    async def test_holder_mismatch_reveals_nothing(self, http):
        response = await http.post(
            VERIFY_PATH, json={"type": "id_card", "number": "370502198503150028", "holder": "张三"}
        )
        assert response.json() == {
            "valid": False,
            "result": "holder_mismatch",
            "type": "id_card",
            "number": "370502198503150028",
            "holder": None,
            "issued_on": None,
            "expires_on": None,
            "issuer": None,
            "address": None,
        }

    async def test_not_found_is_a_404_problem(self, http):
        response = await http.post(
            VERIFY_PATH,
            json={"type": "business_licence", "number": "91350100M000100Y43", "holder": "某公司"},
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "licence_not_found"

    async def test_malformed_number_is_a_422_problem(self, http):
        response = await http.post(
            VERIFY_PATH, json={"type": "id_card", "number": "370502198503150029", "holder": "x"}
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "invalid_licence_number"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            ("number", "bad_check_character")
        ]

    async def test_unknown_type_is_a_422(self, http):
        response = await http.post(
            VERIFY_PATH, json={"type": "passport", "number": "1", "holder": "x"}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "validation_failed"

    async def test_api_key(self):
        async with standin_client(api_key="k-123") as client:
            body = {"type": "business_licence", "number": COMPANY[0], "holder": COMPANY[1]}
            refused = await client.post(VERIFY_PATH, json=body)
            assert refused.status_code == 401
            assert refused.json()["code"] == "invalid_api_key"
            allowed = await client.post(VERIFY_PATH, json=body, headers={"X-Api-Key": "k-123"})
            assert allowed.status_code == 200

    async def test_health(self, http):
        assert (await http.get("/healthz")).json()["status"] == "ok"


class TestAdapterOutcomes:
    async def test_valid(self, elicense):
        check = await elicense.verify(LicenceType.business_licence, *COMPANY)
        assert check.outcome is LicenceOutcome.valid
        assert check.valid is True
        assert check.issued_on == date(2018, 5, 16)
        assert check.expires_on is None

    async def test_numbers_and_names_are_normalised(self, elicense):
        check = await elicense.verify(
            LicenceType.real_estate,
            "鲁(2021) 东营市不动产权第0012345号",
            "东营市获电测试电器有限公司 ",
        )
        assert check.outcome is LicenceOutcome.valid
        assert check.number == "鲁（2021）东营市不动产权第0012345号"
        lower = await elicense.verify(LicenceType.business_licence, COMPANY[0].lower(), COMPANY[1])
        assert lower.valid is True

    async def test_expired_id_card(self, elicense):
        check = await elicense.verify(LicenceType.id_card, "370523199207080041", "测试用户乙")
        assert check.outcome is LicenceOutcome.expired
        assert check.valid is False
        assert check.expires_on == date(2020, 9, 1)

    async def test_expiry_follows_the_standins_today(self):
        async with standin_client() as client:
            before = await ELicenseClient(BASE, client).verify(
                LicenceType.business_licence, "91220622MA14X3B6YF", "靖宇县测试矿泉水有限公司"
            )
        app = create_standin_app(clock=FixedClock(noon(date(2040, 3, 10))))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            after = await ELicenseClient(BASE, client).verify(
                LicenceType.business_licence, "91220622MA14X3B6YF", "靖宇县测试矿泉水有限公司"
            )
        assert (before.outcome, after.outcome) == (LicenceOutcome.valid, LicenceOutcome.expired)

    async def test_revoked_business_licence(self, elicense):
        check = await elicense.verify(
            LicenceType.business_licence, "91370502MA3C9E4L19", "东营市测试商贸有限公司"
        )
        assert check.outcome is LicenceOutcome.revoked

    async def test_holder_mismatch(self, elicense):
        check = await elicense.verify(LicenceType.id_card, "370502198503150028", "测试用户乙")
        assert check.outcome is LicenceOutcome.holder_mismatch
        assert check.holder is None

    async def test_not_found(self, elicense):
        check = await elicense.verify(LicenceType.id_card, "11010519491231002X", "某人")
        assert check.outcome is LicenceOutcome.not_found
        assert check.valid is False
        assert check.number == "11010519491231002X"

    async def test_malformed_number_names_the_callers_field(self, elicense):
        with pytest.raises(Unprocessable) as caught:
            await elicense.verify(
                LicenceType.business_licence,
                "91370502MA3C8T1Q2X",
                "x",
                field="applicant.credit_code",
            )
        assert caught.value.code == "invalid_licence_number"
        assert [(e.field, e.code) for e in caught.value.errors] == [
            ("applicant.credit_code", "bad_check_character")
        ]

    async def test_unsendable_input_names_the_fields(self, elicense):
        with pytest.raises(Unprocessable) as caught:
            await elicense.verify(
                LicenceType.id_card, "1" * 65, "", field="id_number", holder_field="name"
            )
        assert caught.value.code == "invalid_licence_number"
        assert sorted(e.field for e in caught.value.errors) == ["id_number", "name"]

    async def test_own_records(self):
        record = LicenceRecord(
            type=LicenceType.id_card,
            number="11010519491231002X",
            holder="测试用户戊",
            issued_on=date(2010, 1, 1),
            expires_on=None,
            issuer="北京市公安局朝阳分局",
            status=LicenceStatus.active,
        )
        app = create_standin_app([record], clock=FixedClock(noon(TODAY)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            elicense = ELicenseClient(BASE + "/", client)
            check = await elicense.verify(LicenceType.id_card, "11010519491231002X", "测试用户戊")
            assert check.valid is True
            gone = await elicense.verify(LicenceType.id_card, "370502198503150028", "测试用户甲")
            assert gone.outcome is LicenceOutcome.not_found


def mock_client(handler):
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class TestAdapterFailures:
    @pytest.mark.parametrize("status", [500, 502, 503])
    async def test_5xx_is_upstream_unavailable(self, status):
        async with mock_client(lambda _: httpx.Response(status)) as client:
            with pytest.raises(UpstreamUnavailable) as caught:
                await ELicenseClient(BASE, client).verify(LicenceType.id_card, "1", "x")
        assert caught.value.status == 502
        assert caught.value.code == "elicense_unavailable"

    async def test_unreachable_is_upstream_unavailable(self):
        def refuse(request):
            raise httpx.ConnectError("connection refused", request=request)

        async with mock_client(refuse) as client:
            with pytest.raises(UpstreamUnavailable) as caught:
                await ELicenseClient(BASE, client).verify(LicenceType.id_card, "1", "x")
        assert caught.value.code == "elicense_unavailable"

    async def test_wrong_key_is_our_configuration(self):
        async with standin_client(api_key="right") as client:
            elicense = ELicenseClient(BASE, client, api_key="wrong")
            with pytest.raises(UpstreamUnavailable) as caught:
                await elicense.verify(LicenceType.business_licence, *COMPANY)
            assert caught.value.code == "elicense_rejected"
            good = ELicenseClient(BASE, client, api_key="right")
            assert (await good.verify(LicenceType.business_licence, *COMPANY)).valid

    async def test_answer_outside_the_contract(self):
        async with mock_client(lambda _: httpx.Response(200, json={"ok": 1})) as client:
            with pytest.raises(UpstreamUnavailable) as caught:
                await ELicenseClient(BASE, client).verify(LicenceType.id_card, "1", "x")
        assert caught.value.code == "elicense_bad_response"

    async def test_unexpected_status(self):
        async with mock_client(lambda _: httpx.Response(409)) as client:
            with pytest.raises(UpstreamUnavailable) as caught:
                await ELicenseClient(BASE, client).verify(LicenceType.id_card, "1", "x")
        assert caught.value.code == "elicense_bad_response"

    async def test_422_without_problem_body(self):
        async with mock_client(lambda _: httpx.Response(422, text="bad")) as client:
            with pytest.raises(Unprocessable) as caught:
                await ELicenseClient(BASE, client).verify(LicenceType.id_card, "1", "x")
        assert [e.field for e in caught.value.errors] == ["number"]

    async def test_sends_the_contract_request(self):
        seen = {}

        def record(request):
            seen["url"] = str(request.url)
            seen["key"] = request.headers.get("x-api-key")
            seen["body"] = request.content
            return httpx.Response(404, json={"code": "licence_not_found"})

        async with mock_client(record) as client:
            await ELicenseClient("http://e.test/base/", client, api_key="k").verify(
                LicenceType.real_estate, "鲁（2021）东营市不动产权第0012345号", "某人"
            )
        assert seen["url"] == "http://e.test/base/api/v1/licences/verify"
        assert seen["key"] == "k"
        assert httpx.Response(200, content=seen["body"]).json() == {
            "type": "real_estate",
            "number": "鲁（2021）东营市不动产权第0012345号",
            "holder": "某人",
        }


class TestRealProcess:
    async def test_adapter_against_uvicorn(self):
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.intake.standins.elicense",
                "--port",
                str(port),
                "--api-key",
                "e2e-key",
                "--log-level",
                "warning",
            ],
            env={**os.environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                deadline = time.monotonic() + 30
                while True:
                    assert process.poll() is None, process.stdout.read() if process.stdout else ""
                    try:
                        if (await client.get(f"{base}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "the stand-in did not start"
                    await asyncio.sleep(0.05)
                elicense = ELicenseClient(base, client, api_key="e2e-key")
                valid = await elicense.verify(
                    LicenceType.real_estate, "鲁（2020）东营市不动产权第0054321号", "测试用户甲"
                )
                assert valid.outcome is LicenceOutcome.valid
                expired = await elicense.verify(
                    LicenceType.id_card, "370523199207080041", "测试用户乙"
                )
                assert expired.outcome is LicenceOutcome.expired
                missing = await elicense.verify(
                    LicenceType.business_licence, "91350100M000100Y43", "某公司"
                )
                assert missing.outcome is LicenceOutcome.not_found
        finally:
            process.terminate()
            process.communicate(timeout=30)
        async with httpx.AsyncClient() as client:
            with pytest.raises(UpstreamUnavailable):
                await ELicenseClient(base, client).verify(LicenceType.id_card, "1", "x")

    async def test_logs_json_lines_with_the_callers_request_id(self):
        """The stand-in logs like the services (shared.logs): JSON lines, one access line per
        request carrying the X-Request-Id the adapter passes on from the current request."""
        from shared.logs import request_id_scope

        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "services.intake.standins.elicense", "--port", str(port)],
            env={**os.environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                deadline = time.monotonic() + 30
                while True:
                    assert process.poll() is None
                    try:
                        if (await client.get(f"{base}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "the stand-in did not start"
                    await asyncio.sleep(0.05)
                with request_id_scope("trace-elicense-1"):
                    await ELicenseClient(base, client).verify(
                        LicenceType.id_card, "370523199207080041", "测试用户乙"
                    )
        finally:
            process.terminate()
            _, err = process.communicate(timeout=30)
        lines = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
        assert lines, "the stand-in logged nothing"
        assert all({"ts", "level", "logger", "message", "service"} <= set(line) for line in lines)
        access = [line for line in lines if line["logger"] == "huodian.access"]
        verify = [line for line in access if line["path"] == VERIFY_PATH]
        assert [(v["request_id"], v["status"], v["service"]) for v in verify] == [
            ("trace-elicense-1", 200, "elicense")
        ]
        assert not any(line["logger"] == "uvicorn.access" for line in lines)  # one line a request
        assert "370523199207080041" not in err.decode()

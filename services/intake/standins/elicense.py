"""E-license check (电子证照核验): the JSON contract, intake's adapter, and a local stand-in.

The government e-license service (营业执照 business licence, 身份证 ID card, 不动产登记 real-estate
registration) cannot be reached from here, so Huodian speaks this contract to a configurable base
URL, and ships a stand-in that speaks it too, serving fictitious records from
``elicense_records.json``.

The contract::

    POST {base}/api/v1/licences/verify          (header X-Api-Key when the service has a key)
    {"type": "business_licence" | "id_card" | "real_estate",
     "number": "91370502MA3C8T1Q2E",
     "holder": "东营市获电测试电器有限公司"}

    200 {"valid": true, "result": "valid", "type": "business_licence",
         "number": "91370502MA3C8T1Q2E", "holder": "东营市获电测试电器有限公司",
         "issued_on": "2018-05-16", "expires_on": null, "issuer": "东营市东营区市场监督管理局",
         "address": "山东省东营市东营区测试路1号"}
        result is one of valid, expired, revoked, holder_mismatch; on holder_mismatch nothing
        about the record but type and number is returned.
    404 application/problem+json {"code": "licence_not_found", ...}
    422 application/problem+json {"code": "invalid_licence_number", "errors": [...]}
        (a number that fails its format or check character) or "validation_failed"
    401 application/problem+json {"code": "invalid_api_key", ...}

:class:`ELicenseClient` turns that into a :class:`LicenceCheck` (``not_found`` is an outcome, not
an error); an unreachable service or a 5xx answer raises :class:`UpstreamUnavailable`.

Run the stand-in: ``python -m services.intake.standins.elicense --port 8104``. It logs JSON lines
like the services (``shared.logs``), with the caller's ``X-Request-Id``, which the adapter sends.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import uvicorn
from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.intake.rules.identity import IdentityError, parse_credit_code, parse_resident_id
from services.intake.rules.terms import normalise_name
from shared.clock import SYSTEM_CLOCK, Clock, today
from shared.errors import (
    FieldError,
    NotFound,
    Unauthorized,
    Unprocessable,
    UpstreamUnavailable,
    install_error_handlers,
)
from shared.logs import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    current_request_id,
    logging_config,
    set_service_name,
)

__all__ = [
    "VERIFY_PATH",
    "ELicenseClient",
    "LicenceCheck",
    "LicenceOutcome",
    "LicenceRecord",
    "LicenceStatus",
    "LicenceType",
    "VerifyRequest",
    "VerifyResponse",
    "VerifyResult",
    "create_standin_app",
    "load_standin_records",
    "main",
]

VERIFY_PATH = "/api/v1/licences/verify"
SERVICE_NAME = "elicense"
"""The ``service`` of the stand-in's log lines."""
RECORDS_FILE = Path(__file__).with_name("elicense_records.json")


class LicenceType(StrEnum):
    business_licence = "business_licence"
    """营业执照 (number: unified social credit code)"""
    id_card = "id_card"
    """居民身份证 (number: resident ID number)"""
    real_estate = "real_estate"
    """不动产权证书 / 不动产登记证明 (number: e.g. 鲁（2021）东营市不动产权第0012345号)"""


class LicenceStatus(StrEnum):
    active = "active"
    revoked = "revoked"
    """吊销、注销或作废"""


class VerifyResult(StrEnum):
    valid = "valid"
    expired = "expired"
    revoked = "revoked"
    holder_mismatch = "holder_mismatch"


class LicenceOutcome(StrEnum):
    """What intake learns from a check: a :class:`VerifyResult` or ``not_found``."""

    valid = "valid"
    expired = "expired"
    revoked = "revoked"
    holder_mismatch = "holder_mismatch"
    not_found = "not_found"


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: LicenceType
    number: str = Field(min_length=1, max_length=64)
    holder: str = Field(min_length=1, max_length=200, description="持证人或主体名称")


class VerifyResponse(BaseModel):
    valid: bool
    result: VerifyResult
    type: LicenceType
    number: str
    holder: str | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    """None for a licence without expiry (长期有效)."""
    issuer: str | None = None
    address: str | None = None


class LicenceCheck(BaseModel):
    """The adapter's answer to intake."""

    outcome: LicenceOutcome
    valid: bool
    type: LicenceType
    number: str
    holder: str | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    issuer: str | None = None
    address: str | None = None


class LicenceRecord(BaseModel):
    """One licence the stand-in knows."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: LicenceType
    number: str
    holder: str
    issued_on: date
    expires_on: date | None
    issuer: str
    status: LicenceStatus
    address: str | None = None


class _RecordFile(BaseModel):
    note: str
    records: list[LicenceRecord]


def load_standin_records(path: Path = RECORDS_FILE) -> list[LicenceRecord]:
    """The fictitious licences the stand-in serves."""
    return _RecordFile.model_validate_json(path.read_bytes()).records


# -- the adapter intake uses --


class ELicenseClient:
    """Checks a licence against the e-license service at ``base_url`` (电子证照核验).

    ``client`` is the process's shared ``httpx.AsyncClient``; tests give it an
    ``httpx.ASGITransport`` to the stand-in.
    """

    def __init__(
        self, base_url: str, client: httpx.AsyncClient, *, api_key: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._api_key = api_key

    async def verify(
        self,
        licence_type: LicenceType,
        number: str,
        holder: str,
        *,
        field: str = "number",
        holder_field: str = "holder",
    ) -> LicenceCheck:
        """Check one licence.

        Returns a :class:`LicenceCheck` for every answer the contract defines, ``not_found``
        included. Raises :class:`Unprocessable` ``invalid_licence_number`` (naming ``field`` or
        ``holder_field``) when the number or holder cannot be sent or the service says the number
        is malformed, and :class:`UpstreamUnavailable` when the service cannot be reached,
        answers 5xx, refuses our key, or answers outside the contract.
        """
        try:
            request = VerifyRequest(type=licence_type, number=number, holder=holder)
        except ValidationError as exc:
            names = {"number": field, "holder": holder_field}
            raise Unprocessable(
                "the licence cannot be checked as given",
                code="invalid_licence_number",
                errors=[
                    FieldError(
                        field=names.get(str(e["loc"][0]), field), code=e["type"], message=e["msg"]
                    )
                    for e in exc.errors()
                ],
            ) from None
        headers = {"X-Api-Key": self._api_key} if self._api_key else {}
        request_id = current_request_id()
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        try:
            response = await self._client.post(
                f"{self.base_url}{VERIFY_PATH}",
                json=request.model_dump(mode="json"),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                f"the e-license service could not be reached: {exc!r}",
                code="elicense_unavailable",
            ) from exc
        if response.status_code >= 500:
            raise UpstreamUnavailable(
                f"the e-license service answered {response.status_code}",
                code="elicense_unavailable",
            )
        if response.status_code == 404:
            return LicenceCheck(
                outcome=LicenceOutcome.not_found, valid=False, type=licence_type, number=number
            )
        if response.status_code == 422:
            raise Unprocessable(
                "the e-license service refused the licence number",
                code="invalid_licence_number",
                errors=[
                    FieldError(field=field, code=e.code, message=e.message)
                    for e in _problem_errors(response)
                ]
                or [FieldError(field=field, code="invalid", message="证照号码格式不正确")],
            )
        if response.status_code in (401, 403):
            raise UpstreamUnavailable(
                "the e-license service refused intake's API key", code="elicense_rejected"
            )
        if response.status_code != 200:
            raise UpstreamUnavailable(
                f"the e-license service answered {response.status_code} unexpectedly",
                code="elicense_bad_response",
            )
        try:
            answer = VerifyResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamUnavailable(
                "the e-license service answered outside its contract",
                code="elicense_bad_response",
            ) from exc
        fields = answer.model_dump(exclude={"result"})
        return LicenceCheck(outcome=LicenceOutcome(answer.result.value), **fields)


def _problem_errors(response: httpx.Response) -> list[FieldError]:
    try:
        body = response.json()
        return [FieldError.model_validate(e) for e in body.get("errors", [])]
    except (ValueError, ValidationError, AttributeError):
        return []


# -- the stand-in server --

_REAL_ESTATE_NUMBER = re.compile(r"\S{1,4}\(\d{4}\)\S{1,30}不动产(?:权|证明)第\d{7}号")


def _normalise_number(licence_type: LicenceType, number: str) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", number))
    return text if licence_type is LicenceType.real_estate else text.upper()


def _check_number(licence_type: LicenceType, number: str, today: date) -> None:
    try:
        if licence_type is LicenceType.id_card:
            parse_resident_id(number, today=today)
        elif licence_type is LicenceType.business_licence:
            parse_credit_code(number)
        elif not _REAL_ESTATE_NUMBER.fullmatch(number):
            raise IdentityError(
                "invalid_real_estate_number",
                "不动产权证号应形如“鲁（2021）东营市不动产权第0012345号”",
            )
    except IdentityError as exc:
        raise Unprocessable(
            "the licence number is malformed",
            code="invalid_licence_number",
            errors=[exc.field_error("number")],
        ) from None


def create_standin_app(
    records: Iterable[LicenceRecord] | None = None,
    *,
    api_key: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> FastAPI:
    """The stand-in e-license service (电子证照服务替身) serving ``records`` (default: the
    shipped fictitious ones). ``clock`` decides expiry (by its Beijing date); ``api_key`` makes
    X-Api-Key required."""
    by_number = {
        (r.type, _normalise_number(r.type, r.number)): r
        for r in (load_standin_records() if records is None else records)
    }
    app = FastAPI(
        title="电子证照核验服务（本地替身）",
        description="A local stand-in for the government e-license service. Fictitious data.",
    )
    install_error_handlers(app)
    # JSON lines like the services': a request id (the caller's X-Request-Id) and one access line.
    app.add_middleware(RequestIdMiddleware, service=SERVICE_NAME)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "elicense-standin"}

    @app.post(VERIFY_PATH)
    async def verify(
        request: VerifyRequest,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> VerifyResponse:
        if api_key is not None and x_api_key != api_key:
            raise Unauthorized("missing or wrong X-Api-Key", code="invalid_api_key")
        number = _normalise_number(request.type, request.number)
        day = today(clock)
        _check_number(request.type, number, day)
        record = by_number.get((request.type, number))
        if record is None:
            raise NotFound("no such licence", code="licence_not_found")
        if normalise_name(record.holder) != normalise_name(request.holder):
            return VerifyResponse(
                valid=False,
                result=VerifyResult.holder_mismatch,
                type=record.type,
                number=record.number,
            )
        if record.status is LicenceStatus.revoked:
            result = VerifyResult.revoked
        elif record.expires_on is not None and record.expires_on < day:
            result = VerifyResult.expired
        else:
            result = VerifyResult.valid
        return VerifyResponse(
            valid=result is VerifyResult.valid,
            result=result,
            **record.model_dump(exclude={"status"}),
        )

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.intake.standins.elicense --port 8104``"""
    parser = argparse.ArgumentParser(
        description="Run the stand-in e-license service (电子证照替身)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--records", type=Path, default=RECORDS_FILE, help="JSON records file")
    parser.add_argument("--api-key", default=None, help="require this X-Api-Key")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_standin_app(load_standin_records(args.records), api_key=args.api_key)
    set_service_name(SERVICE_NAME)
    # The services' logging (shared.logs): JSON lines, masked, one access line per request.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=logging_config(args.log_level),
        access_log=False,
    )


if __name__ == "__main__":
    main()

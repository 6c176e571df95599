"""Against the real processes: what the three services write to their logs (access logs and
application logs, at ``--log-level info``) never holds a mobile or a resident ID number that a
request carried, in its query string, its path or its body; the query strings' numbers appear
masked (日志脱敏). The services write JSON lines (shared.logs), one access line per request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.rules.identity import resident_id_check_character
from shared.masking import mask_sensitive
from tests.e2e.support import add_user, running_stack, sign_in
from tests.e2e.test_guessing import new_application

pytestmark = pytest.mark.e2e
# A loaded machine hashes slowly: wait longer than httpx's 5 s.
get = partial(httpx.get, timeout=60)
post = partial(httpx.post, timeout=60)
ADMIN_PASSWORD = "e2e-masking-admin-password"
QUERY_MOBILE = "13943901234"
QUERY_ID = "22062219800101123" + resident_id_check_character("22062219800101123")
BODY_MOBILE = "13943905678"
BODY_ID = "22062219900215456" + resident_id_check_character("22062219900215456")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """The stack at ``info``, with the file that all its processes write to."""
    with running_stack(
        tmp_path_factory.mktemp("e2e-masking"),
        f"e2em{os.getpid()}_",
        ADMIN_PASSWORD,
        log_level="info",
    ) as urls:
        yield urls, Path(urls["log"])


def test_no_mobile_or_id_number_a_request_carried_reaches_a_log(log):
    stack, written = log
    intake, ledger, notify = stack["intake"], stack["ledger"], stack["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    add_user(ledger, admin, "clerk-mask", "clerk", "供电分公司")
    add_user(ledger, admin, "dispatch-mask", "dispatcher", "供电分公司")
    clerk = sign_in(ledger, "clerk-mask", "clerk-mask-password-1")
    dispatcher = sign_in(ledger, "dispatch-mask", "dispatch-mask-password-1")
    query = {"q": QUERY_MOBILE, "id": QUERY_ID}

    # In bodies: an application of a person (intake), a subscriber (notify), a sign-in with a
    # mobile as the username (ledger).
    created = new_application(
        intake,
        clerk,
        name="张三",
        id_kind="resident_id",
        id_number=BODY_ID,
        mobile=BODY_MOBILE,
    )
    number = created["application"]["number"]
    subscriber = post(
        f"{notify}/subscribers",
        headers=dispatcher,
        json={
            "account_number": "0622000001",
            "name": "张三",
            "mobile": BODY_MOBILE,
            "feeder": "10kV东城线",
            "transformer_area": "东城1号台区",
            "area_class": "urban",
        },
    )
    assert subscriber.status_code == 201, subscriber.text
    refused = post(f"{ledger}/auth/token", json={"username": BODY_MOBILE, "password": "x"})
    assert refused.status_code == 401

    # In query strings and paths, answered or refused.
    assert get(f"{notify}/subscribers", headers=dispatcher, params=query).status_code == 200
    assert get(f"{ledger}/users", headers=admin, params=query).status_code == 200
    assert get(f"{intake}/applications", headers=clerk, params=query).status_code == 200
    assert get(f"{intake}/applications/{QUERY_ID}", headers=clerk).status_code == 404
    progress = get(
        f"{intake}/public/applications/{number}/progress",
        params={"mobile": QUERY_MOBILE},
        headers={"X-Query-Code": created["query_code"]},
    )
    assert progress.status_code == 200

    text = written.read_text()
    access = [
        (line["service"], line["method"], line["path"], line["status"])
        for line in json_lines(text)
        if line.get("logger") == "huodian.access"
    ]
    masked_query = f"?q={mask_sensitive(QUERY_MOBILE)}&id={mask_sensitive(QUERY_ID)}"
    assert mask_sensitive(QUERY_MOBILE) == "139****1234"
    for service, path in (
        ("notify", "/subscribers"),
        ("ledger", "/users"),
        ("intake", "/applications"),
    ):
        assert (service, "GET", f"{path}{masked_query}", 200) in access, (service, text[-3000:])
    assert ("intake", "GET", f"/applications/{mask_sensitive(QUERY_ID)}", 404) in access
    # the access log is there for the bodies too
    assert ("intake", "POST", "/applications", 201) in access
    assert ("ledger", "POST", "/auth/token", 401) in access
    for number_ in (QUERY_MOBILE, QUERY_ID, BODY_MOBILE, BODY_ID):
        assert number_ not in text
    # One access line per request: uvicorn's own (``"GET … HTTP/1.1" 200``) is off.
    plain = [line for line in text.splitlines() if not line.startswith("{")]
    assert not [line for line in plain if "/subscribers" in line or "/applications" in line]


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a log (the CLI's and the e-license stand-in's plain lines skipped)."""
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found

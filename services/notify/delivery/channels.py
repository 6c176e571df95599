"""The delivery channels (发送渠道): email over SMTP, an SMS gateway, WeCom and DingTalk group
robots, and a generic webhook.

Written on ``aiosmtplib`` and ``httpx`` rather than Apprise: Apprise's WeCom and DingTalk
plugins post to the public hosts only (no private deployment or local test sink), report a bare
``bool`` (no error text for ``last_error``, no transient/permanent distinction for
dead-lettering), send with blocking ``requests``, and a signed SMS gateway would need a custom
plugin anyway.

**SMS gateway contract (短信网关接口).** ``POST <sms_gateway_url>`` with JSON
``{"message_id": str, "mobile": str, "sign_name": str, "content": str}`` and headers
``X-Huodian-Key`` (key id), ``X-Huodian-Timestamp`` (Unix seconds), ``X-Huodian-Nonce`` (random
hex) and ``X-Huodian-Signature``: lowercase hex HMAC-SHA256, keyed with the shared secret, of
``"{timestamp}\\n{nonce}\\n"`` followed by the exact body bytes. The gateway answers 200 with
``{"code": "OK", "message": str, "biz_id": str}``, or another ``code`` on refusal;
``INVALID_MOBILE`` and ``BLACKLISTED`` are final, other codes are retried. ``message_id`` and the
``Idempotency-Key`` header are the message's dedup key, the same on every attempt: a gateway that
keeps them for a day drops a resend after a crash. Not reaching the gateway, or HTTP 5xx, 429,
401 or 403 from it, marks the SMS channel down (see ``delivery/worker.py``).

**Generic webhook (通用回调).** ``POST <recipient URL>`` with JSON ``{"id", "kind", "subject",
"body"}`` and ``Idempotency-Key: <id>`` (both the dedup key, stable across attempts); when
``webhook_secret`` is set, signed as `Standard Webhooks <https://www.standardwebhooks.com/>`_
specify (with the ``standardwebhooks`` package, so a receiver verifies with any of its
libraries): ``webhook-id`` (the dedup key again), ``webhook-timestamp`` (Unix seconds of this
attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``. The
timestamp is signed, so a receiver refuses a captured call replayed after its tolerance (the
libraries' default: five minutes), and the id lets it drop a replay within it. A secret written
``whsec_<base64>`` is used as Standard Webhooks secrets are (the key is the decoded bytes);
any other is used as its UTF-8 bytes.

**Email.** The ``Message-ID`` is stable (:func:`message_id`) and ``X-Huodian-Dedup-Key`` carries
the dedup key, so a resend after a crash is recognisable. Not reaching the SMTP server, or a
failure not about the recipient, marks the email channel down; a refused recipient is the
message's own failure (5xx: dead at once).

Robots and webhooks are URLs from outside: they are posted to through the guarded client of
:mod:`shared.outbound` (never an internal address), and what they answer is never copied into
``last_error`` (only the status and the robot's numeric error code), so the queue cannot be used
to read an internal service.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import aiosmtplib
import httpx
from email_validator import EmailNotValidError, validate_email
from standardwebhooks import Webhook

from services.notify.messages.models import Channel
from services.notify.settings import NotifySettings
from shared.clock import Clock, epoch_seconds
from shared.compact_json import compact_json_bytes
from shared.outbound import UrlNotAllowed
from shared.vocab import VocabError, parse_mobile

_FINAL_HTTP = {400, 404, 405, 410, 413, 422}


class DeliveryFailed(Exception):
    """A send did not succeed.

    ``permanent``: the message's own final refusal (a bad address, a 5xx for this message); it
    goes dead. ``channel_down``: the channel's server failed (cannot connect, 4xx/5xx not about
    this message); the channel is marked down and the message waits without using an attempt.
    Neither: the message's own passing failure, retried within ``max_attempts``.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        channel_down: bool = False,
        receipt: Receipt | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.channel_down = channel_down and not permanent
        self.receipt = receipt


_RECEIPT_MAX = 200
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u4e00-\u9fff]")


def _short(value: object) -> str | None:
    """A provider's value fit to keep: printable, at most 200 characters; None if empty."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = _UNPRINTABLE.sub(" ", str(value)).strip()
    return text[:_RECEIPT_MAX] or None


@dataclass(frozen=True)
class Receipt:
    """The provider's receipt of one attempt (回执): ``id`` is its own id of the message (the SMS
    gateway's ``biz_id``, the SMTP queue id from the 250 reply or else the Message-ID the server
    took, a robot's ``msgid``), ``code`` its status (``250 …``, ``OK``/``INVALID_MOBILE``,
    ``errcode 0``, ``HTTP 200``). Only these short fields are kept, never a response body."""

    id: str | None
    code: str | None

    @classmethod
    def of(cls, id_: object, code: object) -> Receipt:
        return cls(_short(id_), _short(code))


@dataclass(frozen=True)
class Outgoing:
    id: int
    dedup_key: str
    kind: str
    channel: Channel
    recipient: str
    subject: str
    body: str


def message_id(message: Outgoing, domain: str = "huodian.local") -> str:
    """The Message-ID of an email: the same on every attempt, so that a resend after a crash
    can be recognised (and dropped) by the receiver; the id and a digest of the dedup key."""
    digest = hashlib.sha256(message.dedup_key.encode()).hexdigest()[:16]
    return f"<huodian.{message.id}.{digest}@{domain}>"


Accepted = Callable[[Receipt], None]


class Sender(Protocol):
    channel: Channel

    async def send(self, message: Outgoing, accepted: Accepted) -> None:
        """Deliver one message or raise :class:`DeliveryFailed`.

        Call ``accepted`` (blocking, from any thread) with the far end's receipt the moment it
        has taken the message and before anything else: it commits the outcome, so a crash
        after it cannot send the message again."""


async def _taken(accepted: Accepted, receipt: Receipt) -> None:
    await asyncio.to_thread(accepted, receipt)


def _url_problem(recipient: str) -> str | None:
    parts = urlsplit(recipient)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"'{recipient}' is not an http(s) webhook URL"
    return None


def recipient_problem(channel: Channel, recipient: str) -> str | None:
    """Why ``recipient`` cannot be addressed on ``channel``, or None if it can."""
    if channel is Channel.email:
        try:
            validate_email(recipient, check_deliverability=False)
        except EmailNotValidError as exc:
            return f"'{recipient}' is not an email address: {exc}"
        return None
    if channel is Channel.sms:
        try:
            parse_mobile(recipient)
        except VocabError:
            return f"'{recipient}' is not a mainland China mobile number"
        return None
    return _url_problem(recipient)


def _robot_text(message: Outgoing) -> str:
    return f"{message.subject}\n{message.body}" if message.subject else message.body


class EmailSender:
    """Email over SMTP (plain, STARTTLS or implicit TLS), one connection per message."""

    channel = Channel.email

    def __init__(self, settings: NotifySettings) -> None:
        assert settings.smtp_host is not None
        self._settings = settings
        self._host = settings.smtp_host
        address = parseaddr(settings.smtp_from)[1]
        self._domain = address.rpartition("@")[2] or "huodian.local"

    def _compose(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._settings.smtp_from
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Message-ID"] = message_id(message, self._domain)
        mail["X-Huodian-Dedup-Key"] = message.dedup_key
        mail.set_content(message.body)
        return mail

    def _client(self) -> aiosmtplib.SMTP:
        s = self._settings
        login = bool(s.smtp_username and s.smtp_password)
        return aiosmtplib.SMTP(
            hostname=self._host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_security == "tls",
            # "none" means none: no upgrade even if the server offers STARTTLS.
            start_tls=s.smtp_security == "starttls",
            tls_context=ssl.create_default_context() if s.smtp_security != "none" else None,
            username=s.smtp_username if login else None,
            password=s.smtp_password if login else None,
        )

    async def _deliver(self, mail: EmailMessage, accepted: Accepted) -> None:
        smtp = self._client()
        try:
            await smtp.connect()  # greeting, EHLO, STARTTLS and login as configured
            _refused, reply = await smtp.send_message(mail)
            # The server took the message (250 after DATA: any other reply raised): every
            # moment from here until the outcome is committed is a window for a duplicate, so
            # record it first, then QUIT without waiting for the answer.
            await _taken(accepted, smtp_receipt(250, reply, str(mail["Message-ID"])))
            if smtp.protocol is not None:
                smtp.protocol.write(b"QUIT\r\n")
        finally:
            smtp.close()

    async def send(self, message: Outgoing, accepted: Accepted) -> None:
        mail = self._compose(message)
        try:
            await self._deliver(mail, accepted)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # About this recipient: its own failure, final for a 5xx.
            replies = {r.recipient: (r.code, r.message) for r in exc.recipients}
            codes = [code for code, _ in replies.values()]
            raise DeliveryFailed(
                f"SMTP refused the recipient: {replies}",
                permanent=all(500 <= c < 600 for c in codes),
                receipt=Receipt.of(None, " ".join(f"{c} {r}" for c, r in replies.values())),
            ) from exc
        except aiosmtplib.SMTPDataError as exc:
            # The server refused this message's content (5xx: for good) or failed (4xx).
            final = 500 <= exc.code < 600
            raise DeliveryFailed(
                f"SMTP {exc.code}: {exc.message}",
                permanent=final,
                channel_down=not final,
                receipt=Receipt.of(None, f"{exc.code} {exc.message}"),
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connecting, greeting, TLS, login or the sender refused: the server's failure.
            where = f"{self._host}:{self._settings.smtp_port}"
            raise DeliveryFailed(f"SMTP server {where}: {exc!r}", channel_down=True) from exc


_QUEUE_ID = re.compile(r"(?:queued as\s+|\bid=)<?([A-Za-z0-9._@-]+)>?", re.IGNORECASE)


def smtp_receipt(code: int, reply: bytes | str, message_id: str) -> Receipt:
    """The receipt of a mail the server took: the queue id its 250 names (Postfix's ``2.0.0 Ok:
    queued as 4Z1x…``, Exim's ``OK id=1tA…``), else the Message-ID the server took."""
    text = _smtp_reason(reply)
    found = _QUEUE_ID.search(text)
    return Receipt.of(found.group(1) if found else message_id, f"{code} {text}")


def _smtp_reason(error: bytes | str) -> str:
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)


async def _post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    one_server: bool = False,
) -> httpx.Response:
    """POST JSON. ``one_server``: the URL is the channel's one server (the SMS gateway), so
    not reaching it, or a 5xx/429/401/403 from it, means the channel is down; robots and
    webhooks are each their recipient's own endpoint, whose failures are the message's."""
    try:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}
        )
    except UrlNotAllowed as exc:
        raise DeliveryFailed(f"not sent: {exc.detail}", permanent=True) from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(
            f"{urlsplit(url).netloc} could not be reached: {exc!r}", channel_down=one_server
        ) from exc
    status = response.status_code
    if status >= 300:
        raise DeliveryFailed(
            f"{urlsplit(url).netloc} answered HTTP {status}",
            permanent=status in _FINAL_HTTP,
            channel_down=one_server and (status >= 500 or status in (401, 403, 429)),
            receipt=Receipt.of(None, f"HTTP {status}"),
        )
    return response


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError as exc:
        raise DeliveryFailed(f"answered HTTP {response.status_code}, not JSON") from exc
    if not isinstance(payload, dict):
        raise DeliveryFailed(f"answered HTTP {response.status_code}, not a JSON object")
    return payload


def _errcode(payload: Mapping[str, Any]) -> int:
    """A robot's numeric ``errcode`` (-1 if it gave none): the only part of its answer kept."""
    code = payload.get("errcode", -1)
    return code if isinstance(code, int) else -1


def _robot_receipt(payload: Mapping[str, Any], code: int) -> Receipt:
    """A robot's ``msgid`` where its API returns one, and its errcode (never its errmsg)."""
    msgid = payload.get("msgid")
    return Receipt.of(msgid if isinstance(msgid, str | int) else None, f"errcode {code}")


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return compact_json_bytes(payload)


def sms_signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The gateway signature: hex HMAC-SHA256 of ``timestamp\\nnonce\\n`` + body."""
    signed = f"{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class SmsSender:
    channel = Channel.sms
    _FINAL_CODES = frozenset({"INVALID_MOBILE", "BLACKLISTED"})

    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient, clock: Clock) -> None:
        assert settings.sms_gateway_url is not None
        self._settings = settings
        self._url = settings.sms_gateway_url
        self._client = client
        self._clock = clock

    async def send(self, message: Outgoing, accepted: Accepted) -> None:
        s = self._settings
        body = _dumps(
            {
                "message_id": message.dedup_key,
                "mobile": message.recipient,
                "sign_name": s.sms_sign_name,
                "content": message.body,
            }
        )
        timestamp, nonce = str(epoch_seconds(self._clock)), secrets.token_hex(8)
        headers = {"X-Huodian-Key": s.sms_key_id, "X-Huodian-Timestamp": timestamp}
        headers["X-Huodian-Nonce"] = nonce
        headers["Idempotency-Key"] = message.dedup_key
        if s.sms_secret:
            headers["X-Huodian-Signature"] = sms_signature(s.sms_secret, timestamp, nonce, body)
        response = await _post_json(self._client, self._url, body, headers, one_server=True)
        payload = _json_of(response)
        code = str(payload.get("code", ""))
        receipt = Receipt.of(payload.get("biz_id"), code)
        if code != "OK":
            raise DeliveryFailed(
                f"SMS gateway refused: {code} {payload.get('message', '')}".strip(),
                permanent=code in self._FINAL_CODES,
                receipt=receipt,
            )
        await _taken(accepted, receipt)


class WeComSender:
    """企业微信群机器人: ``{"msgtype":"text","text":{"content":…}}`` to the robot's webhook URL."""

    channel = Channel.wecom
    # 93000: invalid webhook URL; 40008/44004: invalid or empty content. 45009 (rate) is retried.
    _FINAL_CODES = frozenset({93000, 40008, 44004})

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, message: Outgoing, accepted: Accepted) -> None:
        body = _dumps({"msgtype": "text", "text": {"content": _robot_text(message)}})
        payload = _json_of(await _post_json(self._client, message.recipient, body, {}))
        code = _errcode(payload)
        receipt = _robot_receipt(payload, code)
        if code != 0:
            raise DeliveryFailed(
                f"WeCom robot refused: errcode {code}",
                permanent=code in self._FINAL_CODES,
                receipt=receipt,
            )
        await _taken(accepted, receipt)


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk's 加签: base64 HMAC-SHA256 of ``timestamp\\nsecret`` keyed with the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


class DingTalkSender:
    """钉钉群机器人: the same text shape; signed with ``timestamp``/``sign`` when a secret is set
    for the robot's access_token."""

    channel = Channel.dingtalk
    _FINAL_CODES = frozenset({300001, 400101})  # invalid access_token; robot disabled

    def __init__(
        self, client: httpx.AsyncClient, secrets_by_token: Mapping[str, str], clock: Clock
    ) -> None:
        self._client = client
        self._secrets = secrets_by_token
        self._clock = clock

    def signed_url(self, url: str, now_ms: int) -> str:
        token = parse_qs(urlsplit(url).query).get("access_token", [""])[0]
        secret = self._secrets.get(token)
        if not secret:
            return url
        timestamp = str(now_ms)
        sign = quote(dingtalk_sign(secret, timestamp), safe="")
        joiner = "&" if urlsplit(url).query else "?"
        return f"{url}{joiner}timestamp={timestamp}&sign={sign}"

    async def send(self, message: Outgoing, accepted: Accepted) -> None:
        url = self.signed_url(message.recipient, int(self._clock.now().timestamp() * 1000))
        body = _dumps({"msgtype": "text", "text": {"content": _robot_text(message)}})
        payload = _json_of(await _post_json(self._client, url, body, {}))
        code = _errcode(payload)
        receipt = _robot_receipt(payload, code)
        if code != 0:
            raise DeliveryFailed(
                f"DingTalk robot refused: errcode {code}",
                permanent=code in self._FINAL_CODES,
                receipt=receipt,
            )
        await _taken(accepted, receipt)


def standard_webhook(secret: str) -> Webhook:
    """The Standard Webhooks signer (and verifier) of ``webhook_secret``: a ``whsec_`` secret
    is base64, any other its UTF-8 bytes."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


class WebhookSender:
    channel = Channel.webhook

    def __init__(self, client: httpx.AsyncClient, secret: str | None, clock: Clock) -> None:
        self._client = client
        self._signer = standard_webhook(secret) if secret else None
        self._clock = clock

    async def send(self, message: Outgoing, accepted: Accepted) -> None:
        body = _dumps(
            {
                "id": message.dedup_key,
                "kind": message.kind,
                "subject": message.subject,
                "body": message.body,
            }
        )
        headers = {"Idempotency-Key": message.dedup_key}
        if self._signer is not None:
            now = self._clock.now()
            headers["webhook-id"] = message.dedup_key
            headers["webhook-timestamp"] = str(int(now.timestamp()))
            headers["webhook-signature"] = self._signer.sign(
                message.dedup_key, now.astimezone(UTC), body.decode()
            )
        response = await _post_json(self._client, message.recipient, body, headers)
        await _taken(accepted, Receipt.of(None, f"HTTP {response.status_code}"))


@dataclass(frozen=True)
class Channels:
    """The senders of the channels that are configured; others' messages wait in the queue."""

    senders: Mapping[Channel, Sender]

    @classmethod
    def build(
        cls,
        settings: NotifySettings,
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        outbound: httpx.AsyncClient,
    ) -> Channels:
        """``client`` reaches the SMS gateway the operator configured; ``outbound`` (from
        :func:`shared.outbound.outbound_client`) the robots and webhooks subscribers gave."""
        senders: dict[Channel, Sender] = {
            Channel.wecom: WeComSender(outbound),
            Channel.dingtalk: DingTalkSender(outbound, settings.dingtalk_secrets, clock),
            Channel.webhook: WebhookSender(outbound, settings.webhook_secret, clock),
        }
        if settings.smtp_host:
            senders[Channel.email] = EmailSender(settings)
        if settings.sms_gateway_url:
            senders[Channel.sms] = SmsSender(settings, client, clock)
        return cls(senders)

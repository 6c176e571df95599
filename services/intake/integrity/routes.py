"""The evidence bundle to download, and a checkpoint on demand (证据包、记录锚定)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake.access import check_reader
from services.intake.applications.loading import get_application
from services.intake.deps import Config, CurrentAdmin, CurrentStaff, Keys
from services.intake.integrity.bundle import build_bundle
from services.intake.integrity.checkpoints import checkpoint_path, read_checkpoints
from services.intake.integrity.service import checkpoint_now
from shared.app import Session, SettingsDep
from shared.clock import Now
from shared.keyring import PUBLIC_KEYS_FORMAT
from shared.timeutil import BeijingTime

router = APIRouter(tags=["integrity"])


class PublicKeysPublic(BaseModel):
    """The Ed25519 public keys that checkpoints and evidence bundles are signed with (公钥).

    Saved as a file, this is what ``huodian verify --bundle FILE --public-key KEYS`` takes."""

    format: str
    current: str
    keys: dict[str, str] = Field(description="Key id → the raw 32-byte public key, base64")


class CheckpointPublic(BaseModel):
    """A checkpoint just written (记录锚定点)."""

    seq: int
    at: BeijingTime
    applications: int
    events: int
    changed: int
    root: str
    key_id: str
    refused: list[str]


@router.get(
    "/applications/{number}/evidence",
    summary="The evidence bundle of an application, verifiable offline (证据包)",
    response_class=JSONResponse,
)
async def evidence(
    number: str,
    staff: CurrentStaff,
    session: Session,
    settings: SettingsDep,
    keys: Keys,
    config: Config,
    now: Now,
) -> JSONResponse:
    application = await get_application(session, number)
    check_reader(application, staff)
    checkpoints = read_checkpoints(checkpoint_path(settings, config), keys)
    bundle: dict[str, Any] = await build_bundle(session, application, keys, checkpoints, now=now)
    return JSONResponse(
        bundle,
        headers={"Content-Disposition": f'attachment; filename="evidence-{number}.json"'},
    )


@router.post(
    "/integrity/checkpoints",
    summary="Write a checkpoint of the stage log now (记录锚定)",
    status_code=201,
)
async def write_checkpoint(
    admin: CurrentAdmin, config: Config, now: Now, request: Request, settings: SettingsDep
) -> CheckpointPublic:
    del admin
    # The checkpoint owns its transaction and the file's lock: not the request's session.
    written = await checkpoint_now(request.app.state.engine, settings, config, now=now)
    return CheckpointPublic(
        seq=written.seq,
        at=written.at,
        applications=written.applications,
        events=written.events,
        changed=written.changed,
        root=written.root,
        key_id=written.key_id,
        refused=written.refused,
    )


@router.get(
    "/integrity/public-keys",
    summary="The public keys to verify checkpoints and evidence bundles offline (公钥)",
)
async def public_keys(keys: Keys) -> PublicKeysPublic:
    # Public by design: they can only check a signature, never make one.
    published = keys.public_keys()
    return PublicKeysPublic(
        format=PUBLIC_KEYS_FORMAT, current=published.current_id, keys=published.encoded()
    )

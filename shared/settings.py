"""Settings common to every service, read from ``HUODIAN_*`` environment variables."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.keyring import Keyring, KeyringFile, write_private_once

ServiceName = Literal["intake", "ledger", "notify"]
SERVICES: tuple[ServiceName, ...] = ("intake", "ledger", "notify")
DEFAULT_PORTS: dict[ServiceName, int] = {"intake": 8101, "ledger": 8102, "notify": 8103}


class Settings(BaseSettings):
    """One settings object per process; every field has a ``HUODIAN_`` variable."""

    model_config = SettingsConfigDict(env_prefix="HUODIAN_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL, a schema per service; unset = SQLite files in var/.",
    )
    db_schema_prefix: str = Field(
        default="",
        description="Prefix for the per-service PostgreSQL schemas (tests isolate runs).",
    )
    var_dir: Path = Field(default=Path("var"), description="SQLite files and the generated secret.")
    secret_key: str | None = Field(
        default=None, description="Signs bearer and service tokens; generated into var/ if unset."
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="A file holding the signing key (a mounted secret), read if secret_key is "
        "unset.",
    )
    keyring_file: Path | None = Field(
        default=None,
        description="Keys that seal secrets at rest and key the stage log (shared.keyring); "
        "unset = var/keyring.json, made on first use. The same file for every service.",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections each service process keeps open; with "
        "db_pool_max_overflow, times the processes of every replica, within max_connections.",
    )
    db_pool_max_overflow: int = Field(
        default=20, ge=0, description="Connections opened beyond db_pool_size under a burst."
    )
    host: str = "127.0.0.1"
    intake_port: int = DEFAULT_PORTS["intake"]
    ledger_port: int = DEFAULT_PORTS["ledger"]
    notify_port: int = DEFAULT_PORTS["notify"]
    intake_url: str | None = None
    ledger_url: str | None = None
    notify_url: str | None = None
    public_url: str | None = Field(
        default=None,
        description="Where browsers reach Huodian behind one host name (nginx: each service "
        "under /intake, /ledger, /notify); unset = each service's own URL, as `huodian up` runs "
        "them. The pages link to each other from it.",
    )
    token_ttl_hours: int = Field(default=12, description="Lifetime of a user's bearer token.")
    token_versions_max_age_seconds: float = Field(
        default=5.0,
        description="How long intake and notify trust ledger's list of valid sign-ins.",
    )
    token_versions_stale_seconds: float = Field(
        default=60.0,
        description="With ledger unreachable for this long, user tokens are refused (503).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body a route takes unless it allows more (uploads); 413 "
        "beyond, refused as the body streams in.",
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts and networks (comma-separated: 'robots.corp, 10.8.0.0/16') that "
        "webhook, robot and callback URLs may reach besides public addresses.",
    )

    _keyring: KeyringFile | None = PrivateAttr(default=None)

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_allow_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    def port_of(self, service: ServiceName) -> int:
        ports: dict[ServiceName, int] = {
            "intake": self.intake_port,
            "ledger": self.ledger_port,
            "notify": self.notify_port,
        }
        return ports[service]

    def url_of(self, service: ServiceName) -> str:
        """Base URL another service is reached at (explicit URL, else host and port)."""
        urls = {"intake": self.intake_url, "ledger": self.ledger_url, "notify": self.notify_url}
        return (urls[service] or f"http://{self.host}:{self.port_of(service)}").rstrip("/")

    def signing_key(self) -> str:
        """The token signing key; on first use without one, a random key is kept in var/."""
        if self.secret_key:
            return self.secret_key
        if self.secret_key_file is not None:
            # A deployment's secret is never generated here: a missing file is a set-up error.
            self.secret_key = self.secret_key_file.read_text().strip()
            if not self.secret_key:
                raise ValueError(f"the signing key file {self.secret_key_file} is empty")
            return self.secret_key
        path = self.var_dir / "secret.key"
        if not path.exists():
            # Atomic: three services start at once on a new machine, and one may be killed.
            write_private_once(path, secrets.token_urlsafe(48))
        self.secret_key = path.read_text().strip()
        return self.secret_key

    def keyring_path(self) -> Path:
        return self.keyring_file or self.var_dir / "keyring.json"

    def keyring(self) -> Keyring:
        """The deployment's keyring, re-read after a rotation (``huodian keyring rotate``)."""
        if self._keyring is None:
            self._keyring = KeyringFile(self.keyring_path())
        return self._keyring.get()


@lru_cache
def get_settings() -> Settings:
    return Settings()

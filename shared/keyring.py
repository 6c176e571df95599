"""Keys kept outside the database (密钥环): they seal secrets at rest and key the records.

Whoever can read or write a service's database must not be able to read the secrets in it
(portal HMAC secrets, replayed answers that carry a query code) nor forge the records it keeps
(the stage log's hash chain). So the keys live in a file beside the processes, not in any
table: by default ``var/keyring.json`` (mode 0600), or ``HUODIAN_KEYRING_FILE``. Every service
of one deployment reads the same file; with several hosts, the operator distributes it like a
TLS key.

The file names its keys and which one is current::

    {"format": 1, "current": "k2", "keys": {"k1": "<base64 32 bytes>", "k2": "..."}}

*Rotation* (``huodian keyring rotate``) adds a new key and makes it current. Old keys stay, so
what was sealed or signed with them can still be opened or verified; everything new uses the
current key, and every sealed value or signature carries the id of the key it was made with.

Each use derives its own subkey (HKDF-SHA256 with the use as ``info``), so the same master key
never signs a log entry and seals a secret with the same bytes.

*Public signatures (公钥签名).* Each key also yields an Ed25519 key pair (its seed derived the
same way, ``info`` ``huodian:ed25519``), under the same key id: checkpoints and evidence bundles
carry an Ed25519 signature besides their HMAC, so that an evaluator or a court can check them
with the public key alone (:class:`PublicKeys`, ``GET /integrity/public-keys``), never holding
the secret keyring. The pair lives in the keyring file with the key it comes from: a rotation
adds a new pair, and the old public keys stay derivable while their keys are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEYRING_FORMAT: Final = 1
KEY_BYTES: Final = 32
# A sealed value: "hk1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>".
SEAL_PREFIX: Final = "hk1"
_NONCE_BYTES: Final = 12
PUBLIC_KEYS_FORMAT: Final = "huodian-public-keys/1"


class KeyringError(Exception):
    """The keyring file is missing a key, malformed, or a sealed value does not open."""


class UnknownKey(KeyringError):
    """A sealed value or signature names a key that the keyring does not hold."""


@dataclass(frozen=True)
class Signature:
    """An HMAC-SHA256 (hex) and the id of the key that made it."""

    key_id: str
    digest: str


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise KeyringError(f"the current key {self.current_id!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if not key_id or "." in key_id or len(key) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be {KEY_BYTES} bytes with a dot-free id")

    @classmethod
    def generate(cls) -> Keyring:
        return cls(current_id="k1", keys={"k1": secrets.token_bytes(KEY_BYTES)})

    def rotated(self) -> Keyring:
        """This keyring with a new current key (``k<n+1>``); the old keys stay."""
        numbers = [int(k[1:]) for k in self.keys if k.startswith("k") and k[1:].isdigit()]
        new_id = f"k{max(numbers, default=0) + 1}"
        return Keyring(
            current_id=new_id, keys={**self.keys, new_id: secrets.token_bytes(KEY_BYTES)}
        )

    # --- derived keys -------------------------------------------------------------------

    def subkey(self, purpose: str, key_id: str | None = None) -> tuple[str, bytes]:
        """The key for one use (``purpose``), from the current key or the one named."""
        key_id = key_id or self.current_id
        master = self.keys.get(key_id)
        if master is None:
            raise UnknownKey(f"no key {key_id!r} in the keyring")
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=f"huodian:{purpose}".encode(),
        ).derive(master)
        return key_id, derived

    def sign(self, purpose: str, data: bytes, key_id: str | None = None) -> Signature:
        used, key = self.subkey(purpose, key_id)
        return Signature(used, hmac.new(key, data, hashlib.sha256).hexdigest())

    def verify(self, purpose: str, data: bytes, signature: Signature) -> bool:
        """Whether ``signature`` was made over ``data`` for ``purpose`` (False: unknown key)."""
        try:
            expected = self.sign(purpose, data, signature.key_id)
        except UnknownKey:
            return False
        return hmac.compare_digest(expected.digest, signature.digest)

    # --- Ed25519 ------------------------------------------------------------------------

    def signing_key(self, key_id: str | None = None) -> tuple[str, Ed25519PrivateKey]:
        """The Ed25519 private key of the current key, or of the one named."""
        used, seed = self.subkey("ed25519", key_id)
        return used, Ed25519PrivateKey.from_private_bytes(seed)

    def sign_public(self, data: bytes, key_id: str | None = None) -> Signature:
        """An Ed25519 signature (hex) over ``data``, checkable with :meth:`public_keys`."""
        used, key = self.signing_key(key_id)
        return Signature(used, key.sign(data).hex())

    def public_keys(self) -> PublicKeys:
        """The Ed25519 public key of every key in the ring (old ones too)."""
        return PublicKeys(
            current_id=self.current_id,
            keys={k: self.signing_key(k)[1].public_key() for k in sorted(self.keys)},
        )

    def seal(self, purpose: str, plaintext: str) -> str:
        """``plaintext`` encrypted and authenticated (AES-256-GCM) with the current key."""
        key_id, key = self.subkey(purpose)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{SEAL_PREFIX}.{key_id}.{body}"

    def open(self, purpose: str, sealed: str) -> str:
        """The plaintext of a value made by :meth:`seal` for the same ``purpose``."""
        prefix, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        if prefix != SEAL_PREFIX or not body:
            raise KeyringError("not a sealed value")
        _, key = self.subkey(purpose, key_id)
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose.encode())
        except (ValueError, InvalidTag) as exc:
            raise KeyringError("the sealed value does not open with its key") from exc
        return plain.decode()

    # --- the file -----------------------------------------------------------------------

    def to_json(self) -> str:
        keys = {k: base64.b64encode(v).decode() for k, v in sorted(self.keys.items())}
        return json.dumps({"format": KEYRING_FORMAT, "current": self.current_id, "keys": keys})

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            data = json.loads(text)
            if data.get("format") != KEYRING_FORMAT:
                raise KeyringError(f"unknown keyring format {data.get('format')!r}")
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
            return cls(current_id=str(data["current"]), keys=keys)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"the keyring file is malformed: {exc}") from exc


@dataclass(frozen=True)
class PublicKeys:
    """Ed25519 public keys by key id (公钥): all a verifier needs, nothing that can sign.

    As a file (``huodian keyring public-keys``, ``GET /integrity/public-keys``)::

        {"format": "huodian-public-keys/1", "current": "k2",
         "keys": {"k1": "<base64 32 bytes>", "k2": "..."}}
    """

    current_id: str
    keys: Mapping[str, Ed25519PublicKey]

    def verify(self, data: bytes, signature: Signature) -> bool:
        """Whether ``signature`` (hex) was made over ``data`` (False: unknown key, bad hex)."""
        key = self.keys.get(signature.key_id)
        if key is None:
            return False
        try:
            key.verify(bytes.fromhex(signature.digest), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def encoded(self) -> dict[str, str]:
        return {k: base64.b64encode(v.public_bytes_raw()).decode() for k, v in self.keys.items()}

    def to_json(self) -> str:
        return json.dumps(
            {"format": PUBLIC_KEYS_FORMAT, "current": self.current_id, "keys": self.encoded()},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> PublicKeys:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != PUBLIC_KEYS_FORMAT:
                raise KeyringError("not a public key file (format huodian-public-keys/1)")
            keys = {
                str(k): Ed25519PublicKey.from_public_bytes(base64.b64decode(v, validate=True))
                for k, v in data["keys"].items()
            }
            return cls(current_id=str(data.get("current", "")), keys=keys)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"the public key file is malformed: {exc}") from exc


def load_keyring(path: Path) -> Keyring:
    """The keyring at ``path``; on first use a new one is made there (mode 0600).

    Several processes may start at once on a new deployment: the file is written whole under
    a temporary name and linked into place, so exactly one keyring wins and all read it.
    """
    try:
        return Keyring.from_json(path.read_text())
    except FileNotFoundError:
        pass
    write_private_once(path, Keyring.generate().to_json())
    return Keyring.from_json(path.read_text())


def save_keyring(path: Path, keyring: Keyring) -> None:
    """Replace the keyring file atomically (rotation)."""
    _write_private(path, keyring.to_json(), replace=True)


def write_private_once(path: Path, text: str) -> None:
    """Create ``path`` (mode 0600) holding ``text`` unless it exists, atomically: written whole
    under a temporary name and linked into place, so that processes starting at once agree on
    one file and a process killed mid-write never leaves a short one."""
    _write_private(path, text, replace=False)


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: theirs it is
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class KeyringFile:
    """The keyring of one process, re-read when the file changes (after a rotation)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keyring: Keyring | None = None
        self._stamp: tuple[int, int] | None = None

    def get(self) -> Keyring:
        stamp = self._stamp_now()
        if self._keyring is None or stamp != self._stamp:
            self._keyring = load_keyring(self.path)
            # The stamp taken *before* the read: a rotation landing between the two makes the
            # next call read again, instead of keeping the old keys under the new stamp.
            self._stamp = stamp if stamp is not None else self._stamp_now()
        return self._keyring

    def _stamp_now(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_ino)

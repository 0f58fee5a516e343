"""RS256 signing keys: where they live, which one signs, which ones are published.

Keys are 2048-bit RSA private keys in PEM, either generated into ``DATA_DIR/accounts/keys``
(one ``<kid>.pem`` file per key, mode 0600) or given as ``ACCOUNTS_SIGNING_KEY_PEM``.
The newest key signs. After a rotation the older keys stay published in the JWKS (and keep
verifying) until every access token they signed has expired; then they are retired.

Rotation is a command, run with the same settings (DATA_DIR) as the service::

    python -m app.keys rotate     # new signing key; running workers pick it up at once
    python -m app.keys list       # kid, created, state
    python -m app.keys prune      # delete the files of retired keys
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.auth import ALGORITHM

logger = logging.getLogger("accounts.keys")

KEY_SIZE = 2048
# How long a replaced key stays published beyond the access-token lifetime (clock skew).
RETIREMENT_MARGIN = timedelta(seconds=60)
_KID_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One RSA key pair (or, for a previous configured key, maybe only its public half)."""

    kid: str
    public_key: rsa.RSAPublicKey
    private_key: rsa.RSAPrivateKey | None
    created_at: datetime | None = None

    def public_jwk(self) -> dict[str, Any]:
        """The key as a JWKS entry: ``kty, kid, use, alg, n, e``."""
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return jwk

    def verification_key(self) -> jwt.PyJWK:
        """The public key in the form the token verifier uses."""
        return jwt.PyJWK.from_dict(self.public_jwk(), algorithm=ALGORITHM)


class KeyStore(Protocol):
    """What the service needs from its keys; also a ``servicekit.auth.KeySource``."""

    def signing_key(self) -> SigningKey:
        """The key new tokens are signed with."""
        ...

    def published_keys(self) -> list[SigningKey]:
        """Every key whose tokens may still be valid, newest first (the JWKS)."""
        ...

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        """The verification key for ``kid`` if it is published."""
        ...


def generate_private_key() -> rsa.RSAPrivateKey:
    """A new 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint: a kid that is the same wherever the key is loaded."""
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pem_text(value: str) -> bytes:
    # A PEM put in an env file often has its line breaks written as "\n".
    if "\\n" in value and "\n" not in value:
        value = value.replace("\\n", "\n")
    return value.strip().encode("ascii")


def _load_rsa_private(data: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("signing key must be an RSA private key")
    if key.key_size < KEY_SIZE:
        raise ValueError(f"signing key must have at least {KEY_SIZE} bits")
    return key


class ConfiguredKeyStore:
    """Keys from settings: one signing key and, optionally, the previous (still published) one."""

    def __init__(self, signing_pem: str, previous_pem: str = "") -> None:
        private = _load_rsa_private(_pem_text(signing_pem))
        self._signing = SigningKey(thumbprint(private.public_key()), private.public_key(), private)
        self._published = [self._signing]
        if previous_pem.strip():
            self._published.append(self._load_previous(_pem_text(previous_pem)))
        self._verification = {key.kid: key.verification_key() for key in self._published}

    @staticmethod
    def _load_previous(data: bytes) -> SigningKey:
        if b"PRIVATE KEY" in data:
            private = _load_rsa_private(data)
            return SigningKey(thumbprint(private.public_key()), private.public_key(), None)
        public = serialization.load_pem_public_key(data)
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("previous signing key must be an RSA key")
        return SigningKey(thumbprint(public), public, None)

    def signing_key(self) -> SigningKey:
        return self._signing

    def published_keys(self) -> list[SigningKey]:
        return list(self._published)

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        return self._verification.get(kid)


class DirectoryKeyStore:
    """Keys as PEM files in a directory shared by every worker of the service.

    Each file is ``<kid>.pem`` where the kid starts with its creation time, so names sort
    oldest to newest. The directory is re-read on every signing and on an unknown kid, so
    workers pick up a rotation done by another process without a restart.
    """

    def __init__(self, directory: Path, *, access_token_ttl: timedelta) -> None:
        self.directory = directory
        self.retire_after = access_token_ttl + RETIREMENT_MARGIN
        self._keys: dict[str, SigningKey] = {}
        self._verification: dict[str, jwt.PyJWK] = {}
        self._mutex = threading.Lock()

    # -- reading ---------------------------------------------------------------------------

    def _reload(self) -> list[SigningKey]:
        """Every key on disk, oldest first (loading only files not seen before)."""
        with self._mutex:
            names = sorted(
                path.name[: -len(".pem")]
                for path in self.directory.glob("*.pem")
                if not path.name.startswith(".")
            )
            for kid in names:
                if kid not in self._keys:
                    loaded = self._load(kid)
                    if loaded is not None:
                        self._keys[kid] = loaded
            for gone in set(self._keys) - set(names):
                del self._keys[gone]
                self._verification.pop(gone, None)
            return [self._keys[kid] for kid in names if kid in self._keys]

    def _load(self, kid: str) -> SigningKey | None:
        try:
            created_at = datetime.strptime(kid.split("-", 1)[0], _KID_TIME_FORMAT).replace(
                tzinfo=UTC
            )
            private = _load_rsa_private((self.directory / f"{kid}.pem").read_bytes())
        except (OSError, ValueError) as exc:
            logger.warning("skipping unusable key file", extra={"kid": kid, "error": str(exc)})
            return None
        return SigningKey(kid, private.public_key(), private, created_at)

    def _published(self, keys: list[SigningKey], now: datetime) -> list[SigningKey]:
        """Newest first: the signing key, then replaced keys whose tokens may still be alive."""
        published: list[SigningKey] = []
        successor: SigningKey | None = None
        for key in reversed(keys):
            replaced_at = successor.created_at if successor is not None else None
            if replaced_at is None or now - replaced_at < self.retire_after:
                published.append(key)
            successor = key
        return published

    def signing_key(self) -> SigningKey:
        keys = self._reload()
        if not keys:
            raise RuntimeError(f"no signing key in {self.directory}; start the service once")
        return keys[-1]

    def published_keys(self, now: datetime | None = None) -> list[SigningKey]:
        return self._published(self._reload(), now or datetime.now(UTC))

    def all_keys(self) -> list[SigningKey]:
        """Every key on disk, oldest first, retired ones included."""
        return self._reload()

    def retired_keys(self, now: datetime | None = None) -> list[SigningKey]:
        """Keys no token can need any more (safe to delete)."""
        keys = self._reload()
        published = {key.kid for key in self._published(keys, now or datetime.now(UTC))}
        return [key for key in keys if key.kid not in published]

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        cached = self._verification.get(kid)
        if cached is not None:
            return cached
        for key in self.published_keys():
            if key.kid == kid:
                self._verification[kid] = key.verification_key()
                return self._verification[kid]
        return None

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        # Several workers start at once: one generates the first key, the others then load it.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure_signing_key(self) -> SigningKey:
        """The current signing key, generating the first one if there is none."""
        with self._exclusive():
            keys = self._reload()
            if keys:
                return keys[-1]
            return self._write_new_key()

    def rotate(self) -> SigningKey:
        """Add a new signing key; the previous ones stay published until they retire."""
        with self._exclusive():
            return self._write_new_key()

    def prune(self, now: datetime | None = None) -> list[str]:
        """Delete the files of retired keys; return their kids."""
        with self._exclusive():
            retired = [key.kid for key in self.retired_keys(now)]
            for kid in retired:
                (self.directory / f"{kid}.pem").unlink(missing_ok=True)
            self._reload()
            return retired

    def _write_new_key(self) -> SigningKey:
        private = generate_private_key()
        now = datetime.now(UTC)
        kid = f"{now.strftime(_KID_TIME_FORMAT)}-{secrets.token_hex(4)}"
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Write under a temporary name and rename, so no reader ever sees half a key.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".new-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.directory / f"{kid}.pem")
        logger.info("new signing key", extra={"kid": kid})
        self._reload()
        return SigningKey(kid, private.public_key(), private, now)


def open_key_store(
    *,
    directory: Path,
    access_token_ttl: timedelta,
    signing_key_pem: str = "",
    previous_signing_key_pem: str = "",
) -> KeyStore:
    """The configured PEM keys if given, else the key directory (with a key in it)."""
    if signing_key_pem.strip():
        return ConfiguredKeyStore(signing_key_pem, previous_signing_key_pem)
    store = DirectoryKeyStore(directory, access_token_ttl=access_token_ttl)
    store.ensure_signing_key()
    return store


def key_directory(data_dir: Path) -> Path:
    """Where generated keys live under the service's data dir."""
    return data_dir / "keys"


# -- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.keys rotate|list|prune``, with the service's settings."""
    from app.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m app.keys", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["rotate", "list", "prune"])
    args = parser.parse_args(argv)
    settings = Settings()
    if settings.signing_key_pem.get_secret_value().strip():
        print(
            "keys come from ACCOUNTS_SIGNING_KEY_PEM: to rotate, move it to "
            "ACCOUNTS_PREVIOUS_SIGNING_KEY_PEM and set a new one",
            file=sys.stderr,
        )
        return 2
    store = DirectoryKeyStore(
        key_directory(settings.service_data_dir),
        access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )
    if args.command == "rotate":
        key = store.rotate()
        print(f"new signing key {key.kid}")
        for kid in store.prune():
            print(f"deleted retired key {kid}")
    elif args.command == "prune":
        for kid in store.prune():
            print(f"deleted retired key {kid}")
    else:
        published = [key.kid for key in store.published_keys()]
        for key in reversed(store.all_keys()):
            state = "retired"
            if key.kid in published:
                state = "signing" if key.kid == published[0] else "published"
            created = key.created_at.isoformat() if key.created_at else "?"
            print(f"{key.kid}  {created}  {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""API keys: created once, shown once, stored only as a salted scrypt hash.

A key looks like ``vgl_<prefix>_<secret>``. The prefix is public (it finds the row
and names the key in listings); the secret is 32 random bytes and is never stored.
Verification is scrypt (memory-hard) compared with ``hmac.compare_digest``; a key
that verified recently is remembered for ``CACHE_S`` seconds (by its SHA-256) so a
search does not pay for scrypt each time, which also bounds how long a key revoked
from another process (``vigil api-key revoke``) keeps working here.

Access policy (see ``require``): when the server is bound to loopback only and no
active key exists, requests are let through with the admin role, so a fresh
``vigil serve`` on a laptop just works; otherwise every request needs a valid key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass

from vigil.api.store import ApiKeyRecord, ApiStore, Role
from vigil.errors import InvalidInputError

KEY_PREFIX = "vgl"
CACHE_S = 30.0
# scrypt cost: 16 MiB and ~40 ms per check on one core; keys are 256-bit random, so this
# guards a leaked database, not guessable passwords.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: ``token`` is shown to the user once and never stored."""

    token: str
    record: ApiKeyRecord


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's id and role, or the implicit local user (``key_id`` None)."""

    role: Role
    key_id: int | None
    name: str


LOCAL_USER = Principal(role=Role.ADMIN, key_id=None, name="local (loopback, no keys)")


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def create_key(store: ApiStore, *, name: str, role: Role | str) -> NewApiKey:
    """Make a key, store its hash, and return the only copy of the token.

    >>> new = create_key(store, name="ci", role="read")  # doctest: +SKIP
    >>> new.token  # doctest: +SKIP
    'vgl_3f9a1c2e_...'
    """
    if not name.strip():
        raise InvalidInputError("API key name must not be empty")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInputError(
            f"API key role must be one of {[r.value for r in Role]}, got {role!r}"
        ) from None
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    record = store.add_key(
        name=name.strip(), role=role, prefix=prefix, salt=salt, key_hash=hash_secret(secret, salt)
    )
    return NewApiKey(token=f"{KEY_PREFIX}_{prefix}_{secret}", record=record)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; names that need DNS count as not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class KeyVerifier:
    """Checks presented tokens against the stored hashes, with a short positive cache."""

    def __init__(self, store: ApiStore) -> None:
        self.store = store
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop remembered keys (after a revoke in this process)."""
        with self._lock:
            self._cache.clear()

    def verify(self, token: str) -> Principal | None:
        """The key's principal, or None for a malformed, unknown, wrong or revoked token."""
        fingerprint = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(fingerprint)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
            return None
        record = self.store.key_by_prefix(parts[1])
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(hash_secret(parts[2], record.salt), record.key_hash):
            return None
        principal = Principal(role=record.role, key_id=record.id, name=record.name)
        with self._lock:
            self._cache[fingerprint] = (now, principal)
        return principal

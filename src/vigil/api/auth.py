"""API keys: created once, shown once, stored only as a salted scrypt hash.

A key looks like ``vgl_<prefix>_<secret>``. The prefix is public (it finds the row
and names the key in listings); the secret is 32 random bytes and is never stored.
Verification is scrypt (memory-hard) compared with ``hmac.compare_digest``; a key
that verified recently is remembered for ``CACHE_S`` seconds (by its SHA-256) so a
search does not pay for scrypt each time, which also bounds how long a key revoked
from another process (``vigil api-key revoke``) keeps working here.

Guessing is throttled. A client (by peer address) whose wrong keys reach
``MAX_FAILURES`` within ``FAILURE_WINDOW_S`` gets 429 with ``Retry-After`` and no
hash check until the window frees; at most ``HASH_SLOTS`` scrypt checks run at once
(in the request's worker thread, never on the event loop), so wrong guesses with a
real prefix cannot eat every core. A key already in the cache is answered without
either, so valid clients stay fast while someone is guessing.

Access policy (see ``require``): when the server is bound to loopback only and no
active key exists, requests are let through with the admin role, so a fresh
``vigil serve`` on a laptop just works; otherwise every request needs a valid key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from vigil.catalog.api_store import ApiKeyRecord, ApiStore, Role
from vigil.errors import InvalidInputError, KeyCheckBusyError

KEY_PREFIX = "vgl"
CACHE_S = 30.0
CACHE_MAX = 1024  # remembered keys; the oldest is dropped past this
MAX_FAILURES = 20  # wrong keys per client per window before 429
FAILURE_WINDOW_S = 60.0
MAX_CLIENTS_TRACKED = 10_000  # failure records kept (oldest dropped): memory stays bounded
HASH_SLOTS = 2  # concurrent scrypt checks (each ~16 MiB, one core)
HASH_WAIT_S = 5.0  # longest a check waits for a slot before the request is told to retry
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


class FailureLimiter:
    """Wrong-key attempts per client in a sliding window (thread-safe, bounded memory)."""

    def __init__(self, *, limit: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may try now."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return 0.0
            while times and now - times[0] >= self.window_s:
                times.popleft()
            if len(times) < self.limit:
                return 0.0
            return self.window_s - (now - times[0])

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = self._failures.setdefault(client, deque(maxlen=self.limit))
            times.append(now)
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_CLIENTS_TRACKED:
                self._failures.popitem(last=False)


class KeyVerifier:
    """Checks presented tokens against the stored hashes, with a short positive cache."""

    def __init__(self, store: ApiStore, *, hash_slots: int = HASH_SLOTS) -> None:
        self.store = store
        self.failures = FailureLimiter()
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(hash_slots)

    def forget(self) -> None:
        """Drop remembered keys (after a revoke in this process)."""
        with self._lock:
            self._cache.clear()

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified less than ``CACHE_S`` ago (no hashing)."""
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            found = self._cache.get(fingerprint)
            if found is None:
                return None
            if time.monotonic() - found[0] >= CACHE_S:
                del self._cache[fingerprint]
                return None
            return found[1]

    def check(self, token: str, client: str) -> Principal | None:
        """``verify`` for a request from ``client``, counting a wrong token against it.

        Raises ``KeyCheckBusyError`` (with ``retry_after``) when the client has too many
        recent failures, checked again once a hash slot is held so that requests queued
        behind the slots do not all get their scrypt check.
        """
        found = self.cached(token)
        if found is not None:
            return found
        self._refuse_if_throttled(client)
        found = self.verify(token, client=client)
        if found is None:
            self.failures.failed(client)
        return found

    def _refuse_if_throttled(self, client: str) -> None:
        wait = self.failures.retry_after(client)
        if wait > 0:
            raise KeyCheckBusyError(
                f"too many wrong API keys from this client; try again in {retry_seconds(wait)} s",
                retry_after=wait,
            )

    def verify(self, token: str, *, client: str | None = None) -> Principal | None:
        """The key's principal, or None for a malformed, unknown, wrong or revoked token.

        Raises ``KeyCheckBusyError`` when no hash slot frees within ``HASH_WAIT_S``, or
        when ``client`` is throttled by the time a slot is free.
        """
        found = self.cached(token)
        if found is not None:
            return found
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
            return None
        if len(parts[1]) > 64 or len(parts[2]) > 256:
            return None  # no real key is this long; do not hash megabytes
        record = self.store.key_by_prefix(parts[1])
        if record is None or record.revoked_at is not None:
            return None
        if not self._slots.acquire(timeout=HASH_WAIT_S):
            raise KeyCheckBusyError(
                "the server is busy checking API keys; try again in a second", retry_after=1.0
            )
        try:
            if client is not None:
                self._refuse_if_throttled(client)
            digest = hash_secret(parts[2], record.salt)
        finally:
            self._slots.release()
        if not hmac.compare_digest(digest, record.key_hash):
            return None
        principal = Principal(role=record.role, key_id=record.id, name=record.name)
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            self._cache[fingerprint] = (time.monotonic(), principal)
            self._cache.move_to_end(fingerprint)
            while len(self._cache) > CACHE_MAX:
                self._cache.popitem(last=False)
        return principal


def retry_seconds(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))

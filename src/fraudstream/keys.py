"""API keys: configured as digests, checked in constant time, rate-limited when wrong.

`FRAUDSTREAM_API_KEYS` holds `KEY:scope,scope` entries separated by `;`. A key may be
given as its SHA-256 (`sha256:<64 hex>:scopes`), so that the configuration never holds
the secret itself; a key given in clear is hashed at start-up. Several keys may share
a scope (rotation: add the new key, move clients, remove the old one). A key is read
from `X-API-Key` or `Authorization: Bearer`, never from the URL, which ends up in
access logs.

>>> keys = parse_keys("a-long-enough-key-1:score;sha256:" + "0" * 64 + ":read,label")
>>> sorted(scopes for scopes in map(sorted, keys.values()))
[['label', 'read'], ['score']]
>>> parse_keys("short:score")
Traceback (most recent call last):
...
ValueError: API key entry shor...: a key needs at least 16 characters (or give its SHA-256 as sha256:<hex>)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["MIN_KEY_LENGTH", "SCOPES", "KeyBuckets", "digest", "match", "parse_keys"]

#: What an API key may do; "admin" may do everything.
SCOPES: Final = ("score", "read", "label", "metrics", "admin")
MIN_KEY_LENGTH: Final = 16
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_keys(value: str) -> dict[str, frozenset[str]]:
    """Key digest (hex) -> its scopes."""
    keys: dict[str, frozenset[str]] = {}
    for entry in filter(None, (e.strip() for e in value.split(";"))):
        key, sep, scopes = entry.rpartition(":")
        wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
        shown = f"API key entry {entry[:4]}..."
        if not sep or not key or not wanted or not wanted <= set(SCOPES):
            raise ValueError(f"{shown}: write KEY:scope,scope with scopes from {', '.join(SCOPES)}")
        given = _DIGEST.fullmatch(key)
        if given is None and len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"{shown}: a key needs at least {MIN_KEY_LENGTH} characters (or give its SHA-256 as sha256:<hex>)"
            )
        keys[given.group(1) if given else digest(key)] = wanted
    return keys


def match(key: str, keys: Mapping[str, frozenset[str]]) -> str | None:
    """The digest of `key` if it is one of `keys`, compared in constant time with each."""
    presented = digest(key)
    found = None
    for known in keys:  # every one compared, so that the time does not say which matched
        if hmac.compare_digest(presented, known):
            found = known
    return found


@dataclass
class KeyBuckets:
    """Token buckets by name (a client's address, a key): `rate` a second, up to `burst`."""

    rate: float
    burst: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # requests run on several threads

    def _tokens(self, name: str, now: float) -> float:
        tokens, then = self._buckets.get(name, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate)

    def wait(self, name: str) -> float:
        """Seconds until `name` has a token (0: it has one); takes none."""
        with self._lock:
            return max(0.0, (1.0 - self._tokens(name, self.clock())) / self.rate)

    def take(self, name: str) -> float:
        """Take a token: 0 if `name` had one, else the seconds until it will (nothing taken)."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(name, now)
            if tokens < 1.0:
                return (1.0 - tokens) / self.rate
            self._buckets[name] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_TRACKED:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        """Drop the buckets that have refilled: they hold nothing a new one would not."""
        self._buckets = {
            name: (tokens, then)
            for name, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.rate < self.burst
        }


#: Buckets kept before the full ones are dropped (a flood of addresses must not grow memory).
MAX_TRACKED: Final = 10_000

"""API keys: random tokens shown once, kept only as SHA-256 hashes.

A key is 32 random bytes (URL-safe base64), so a fast hash is enough: there is
nothing to guess that a slow password hash would protect. Comparison of the
hash is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

ADMIN = "*"  # the identity of an admin key: sees every partner's documents


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and its hash."""
    key = "edigw_" + secrets.token_urlsafe(32)
    return key, hash_key(key)


@dataclass(frozen=True)
class KeyRing:
    """Who a presented key belongs to: a partner id, ADMIN, or nobody."""

    owners: dict[str, str]  # hash -> partner id or ADMIN

    def owner(self, key: str | None) -> str | None:
        if not key:
            return None
        return self.owner_of_hash(hash_key(key))

    def owner_of_hash(self, presented: str) -> str | None:
        """Who the key with this hash belongs to (a session keeps the hash, never the key)."""
        found = None
        for known, owner in self.owners.items():  # constant time per entry, no early exit
            if hmac.compare_digest(known, presented):
                found = owner
        return found

"""API key material: generation, hashing, display prefix. Only the hash is ever stored."""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_PREFIX = "pyex_"
PREFIX_CHARS = 8
_KEY_SHAPE = re.compile(r"^pyex_[A-Za-z0-9_-]{32,200}$")


def generate_key() -> str:
    # 32 bytes → 43 url-safe characters, comfortably over the contract's 32.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[len(KEY_PREFIX) : len(KEY_PREFIX) + PREFIX_CHARS]


def looks_like_key(value: str) -> bool:
    return bool(_KEY_SHAPE.match(value))

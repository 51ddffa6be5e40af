"""Account passwords: argon2id hashes (argon2-cffi), the rules a new password must meet.

Hashing costs ~50 ms of CPU and 64 MiB by design; the async forms run it in a thread so that
the event loop keeps serving while someone signs in.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_CHARS = 10
# argon2 takes any length; a bound keeps a 10 MB "password" from becoming a request's work.
MAX_PASSWORD_CHARS = 1024

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified when the account has no password (or no account has the email), so that a
    # wrong email takes as long as a wrong password.
    return _hasher.hash("not a password of anyone")


class WeakPasswordError(ValueError):
    """A new password breaks a rule; the message says which."""


def check_new_password(password: str, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPasswordError(f"The password must have at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPasswordError(f"The password must have at most {MAX_PASSWORD_CHARS} characters.")
    if not password.strip():
        raise WeakPasswordError("The password must not be only spaces.")
    if email and password.strip().lower() == email.strip().lower():
        raise WeakPasswordError("The password must not be the email address.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; always does the work of one verification."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)

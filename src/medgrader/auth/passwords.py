"""Password hashing with argon2id (pwdlib's recommended hasher)."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher().verify(password, password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-only-for-timing")


def burn_verification_time(password: str) -> None:
    """Spend what a real check would cost, so an unknown email answers as slowly as a known one."""
    _hasher().verify(password, _dummy_hash())

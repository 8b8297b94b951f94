"""Password hashing with argon2id; its cost comes from Settings.

Production uses argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes: what pwdlib's
`PasswordHash.recommended()` used before the cost became a setting) and refuses to start with
less (config.Settings). Tests set a cheap profile: a stored hash carries its own parameters, so
any hasher verifies it, whatever profile made it.
"""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from medgrader.config import Settings


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHash:
    return PasswordHash(
        (Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism),)
    )


def _hasher_for(settings: Settings) -> PasswordHash:
    return _hasher(
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    )


def hash_password(password: str, settings: Settings) -> str:
    return _hasher_for(settings).hash(password)


def verify_password(password: str, password_hash: str, settings: Settings) -> bool:
    return _hasher_for(settings).verify(password, password_hash)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    hasher = _hasher(time_cost, memory_kib, parallelism)
    return hasher.hash("not-a-real-password-only-for-timing")


def burn_verification_time(password: str, settings: Settings) -> None:
    """Spend what a real check would cost, so an unknown email answers as slowly as a known one."""
    profile = (
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    )
    _hasher(*profile).verify(password, _dummy_hash(*profile))

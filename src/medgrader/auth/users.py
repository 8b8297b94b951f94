"""A user as the application sees one: who they are and what they may do (never their password
hash). Built from a row of `users` by the statements in auth.repository."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medgrader.models.users import User as UserTable

USERS = UserTable.__table__
# The columns a `User` is made of, for every statement that returns one.
USER_COLUMNS = (
    USERS.c.id,
    USERS.c.email,
    USERS.c.role,
    USERS.c.is_admin,
    USERS.c.token_version,
    USERS.c.email_verified_at,
)


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    role: str
    is_admin: bool
    token_version: int
    email_verified_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> User:
        return cls(
            id=row.id,
            email=row.email,
            role=row.role,
            is_admin=row.is_admin,
            token_version=row.token_version,
            email_verified_at=row.email_verified_at,
        )

    @property
    def is_student(self) -> bool:
        return self.role == "student"

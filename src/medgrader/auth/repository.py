"""Queries for users, profiles and pending registrations (Core statements on the models'
tables, run on a Db)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select

from medgrader.auth.users import USER_COLUMNS, USERS, User
from medgrader.db.session import Db
from medgrader.models.users import InstructorProfile, PendingRegistration, StudentProfile

PENDING = PendingRegistration.__table__
STUDENTS = StudentProfile.__table__
INSTRUCTORS = InstructorProfile.__table__


def _by_email(email: str) -> Any:
    return func.lower(USERS.c.email) == email.lower()


async def user_by_email(db: Db, email: str) -> User | None:
    row = (await db.execute(select(*USER_COLUMNS).where(_by_email(email)))).one_or_none()
    return None if row is None else User.of(row)


async def password_hash_by_email(db: Db, email: str) -> tuple[User, str | None] | None:
    """The user and their password hash (None for a Google-only account), for a sign-in."""
    statement = select(*USER_COLUMNS, USERS.c.password_hash).where(_by_email(email))
    row = (await db.execute(statement)).one_or_none()
    return None if row is None else (User.of(row), row.password_hash)


async def user_by_id(db: Db, user_id: uuid.UUID) -> User | None:
    row = (await db.execute(select(*USER_COLUMNS).where(USERS.c.id == user_id))).one_or_none()
    return None if row is None else User.of(row)


async def lock_pending(db: Db, email: str) -> Any | None:
    """The pending registration for this email, locked for the rest of the transaction."""
    statement = (
        select(PENDING).where(func.lower(PENDING.c.email) == email.lower()).with_for_update()
    )
    return (await db.execute(statement)).one_or_none()


async def delete_pending(db: Db, pending_id: uuid.UUID) -> None:
    await db.execute(delete(PENDING).where(PENDING.c.id == pending_id))


async def student_profile(db: Db, user_id: uuid.UUID) -> Any | None:
    return (await db.execute(select(STUDENTS).where(STUDENTS.c.user_id == user_id))).one_or_none()


async def instructor_profile(db: Db, user_id: uuid.UUID) -> Any | None:
    statement = select(INSTRUCTORS).where(INSTRUCTORS.c.user_id == user_id)
    return (await db.execute(statement)).one_or_none()


async def first_name(db: Db, user: User) -> str | None:
    profile = await (
        student_profile(db, user.id) if user.is_student else instructor_profile(db, user.id)
    )
    return profile.first_name if profile is not None else None

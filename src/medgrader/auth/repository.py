"""Queries for users, profiles and pending registrations."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.models.users import InstructorProfile, PendingRegistration, StudentProfile, User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def lock_pending(session: AsyncSession, email: str) -> PendingRegistration | None:
    """The pending registration for this email, locked for the rest of the transaction."""
    return await session.scalar(
        select(PendingRegistration)
        .where(func.lower(PendingRegistration.email) == email.lower())
        .with_for_update()
    )


async def delete_pending(session: AsyncSession, pending_id: uuid.UUID) -> None:
    await session.execute(delete(PendingRegistration).where(PendingRegistration.id == pending_id))


async def student_profile(session: AsyncSession, user_id: uuid.UUID) -> StudentProfile | None:
    return await session.get(StudentProfile, user_id)


async def instructor_profile(session: AsyncSession, user_id: uuid.UUID) -> InstructorProfile | None:
    return await session.get(InstructorProfile, user_id)


async def first_name(session: AsyncSession, user: User) -> str | None:
    profile = await (
        student_profile(session, user.id)
        if user.role == "student"
        else instructor_profile(session, user.id)
    )
    return profile.first_name if profile is not None else None

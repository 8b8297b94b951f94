"""The edge's side of signing in and up, shared by the JSON endpoints and the pages: each
request counts its abuse limits first, on its unit of work, and the slow password hashing runs
between transactions (`external_call`), so the count commits whatever happens next and no
pooled connection (nor the limit rows' locks) waits on the hash."""

from __future__ import annotations

from email.message import EmailMessage

from medgrader.auth import password_reset, service
from medgrader.auth.passwords import hash_password
from medgrader.auth.schemas import RegisterRequest
from medgrader.auth.users import User
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.security import limits, rules


async def login(db: Db, ctx: AppContext, email: str, password: str, address: str) -> User:
    await limits.hit(db, ctx, *rules.login(ctx.settings, email.lower(), address))
    found = await service.find_login(db, email)
    async with external_call(db):
        return service.check_password(found, password, ctx.settings)


async def register(db: Db, ctx: AppContext, request: RegisterRequest, address: str) -> None:
    email = request.email.lower()
    await limits.hit(db, ctx, *rules.code_sent(ctx.settings, "signup", email, address))
    async with external_call(db):
        password_hash = hash_password(request.password, ctx.settings)
    await service.register(db, ctx, request, password_hash)


async def verify_otp(db: Db, ctx: AppContext, email: str, code: str, address: str) -> User:
    tried = rules.code_tried(ctx.settings, "signup", email.lower(), address)
    await limits.hit(db, ctx, *tried)
    return await service.verify_otp(db, ctx, email, code)


async def request_reset(db: Db, ctx: AppContext, email: str, address: str) -> EmailMessage | None:
    sent = rules.code_sent(ctx.settings, password_reset.PURPOSE, email.lower(), address)
    await limits.hit(db, ctx, *sent)
    return await password_reset.request_reset(db, ctx, email)


async def confirm_reset(
    db: Db, ctx: AppContext, email: str, code: str, new_password: str, address: str
) -> None:
    tried = rules.code_tried(ctx.settings, password_reset.PURPOSE, email.lower(), address)
    await limits.hit(db, ctx, *tried)
    await password_reset.confirm_reset(db, ctx, email, code, new_password)

"""Signing people up the way a real client does: over HTTP, with the emailed code."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import httpx

from tests.support.mailbox import Mailbox

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}@example.com"


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password: str
    token: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(
    client: httpx.Client,
    email: str,
    *,
    role: str = "student",
    password: str = PASSWORD,
    first_name: str = "Ada",
    last_name: str = "Lovelace",
) -> httpx.Response:
    return client.post(
        "/api/auth/register",
        json={
            "email": email,
            "password": password,
            "firstName": first_name,
            "lastName": last_name,
            "role": role,
        },
    )


def sign_up(
    client: httpx.Client, mailbox: Mailbox, *, role: str = "student", email: str | None = None
) -> Account:
    email = email or unique_email(role)
    response = register(client, email, role=role)
    assert response.status_code == 202, response.text
    code = mailbox.latest_otp(email)
    verified = client.post("/api/auth/verify-otp", json={"email": email, "otp": code})
    assert verified.status_code == 201, verified.text
    body = verified.json()
    return Account(
        id=body["user"]["id"],
        email=email,
        password=PASSWORD,
        token=body["accessToken"],
        role=role,
    )

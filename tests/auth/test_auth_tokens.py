"""Access tokens: every claim is required and checked, the algorithm is pinned."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from tests.conftest import JWT_SECRET
from tests.support.accounts import Account


def _claims(account: Account, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": account.id,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "medgrader",
        "aud": "medgrader-api",
        "typ": "access",
        "jti": str(uuid.uuid4()),
        "ver": 0,
    }
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _me(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def test_a_well_formed_token_works(client: httpx.Client, student: Account) -> None:
    token = jwt.encode(_claims(student), JWT_SECRET, algorithm="HS256")
    assert _me(client, token).status_code == 200


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("expired", {"exp": datetime.now(UTC) - timedelta(seconds=1)}),
        ("wrong audience", {"aud": "someone-else"}),
        ("wrong issuer", {"iss": "evil"}),
        ("missing exp", {"exp": None}),
        ("missing iat", {"iat": None}),
        ("missing sub", {"sub": None}),
        ("refresh type", {"typ": "refresh"}),
        ("missing typ", {"typ": None}),
        ("sub not a uuid", {"sub": "12345"}),
        ("missing jti", {"jti": None}),
        ("jti not a uuid", {"jti": "abc"}),
        ("missing ver", {"ver": None}),
        ("ver not an integer", {"ver": "0"}),
        ("an older ver", {"ver": -1}),
    ],
)
def test_bad_claims_are_401(
    client: httpx.Client, student: Account, case: str, overrides: dict[str, object]
) -> None:
    token = jwt.encode(_claims(student, **overrides), JWT_SECRET, algorithm="HS256")
    response = _me(client, token)
    assert response.status_code == 401, case
    assert response.json()["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_signature_is_401(client: httpx.Client, student: Account) -> None:
    token = jwt.encode(_claims(student), "another-secret-of-sufficient-length-1234567", "HS256")
    assert _me(client, token).status_code == 401


def test_alg_none_is_401(client: httpx.Client, student: Account) -> None:
    claims = _claims(student)
    claims["iat"] = int(datetime.now(UTC).timestamp())
    claims["exp"] = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert _me(client, token).status_code == 401


def test_other_hmac_algorithm_is_401(client: httpx.Client, student: Account) -> None:
    token = jwt.encode(_claims(student), JWT_SECRET, algorithm="HS512")
    assert _me(client, token).status_code == 401


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"]
)
def test_missing_or_garbage_credentials_are_401(client: httpx.Client, header: str) -> None:
    response = client.get("/api/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert set(response.json()) == {"error", "code"}


def test_token_for_a_user_that_does_not_exist_is_401(
    client: httpx.Client, student: Account
) -> None:
    ghost = Account(
        id="00000000-0000-4000-8000-000000000000",
        email="ghost@example.com",
        password="x",
        token="",
        role="student",
    )
    token = jwt.encode(_claims(ghost), JWT_SECRET, algorithm="HS256")
    assert _me(client, token).status_code == 401


def test_each_token_sees_only_its_own_user(
    client: httpx.Client, student: Account, instructor: Account
) -> None:
    assert client.get("/api/me", headers=student.headers).json()["id"] == student.id
    assert client.get("/api/me", headers=instructor.headers).json()["id"] == instructor.id

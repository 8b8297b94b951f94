"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from medgrader.core.schemas import ApiModel, NoNul, any_case, trimmed_text

Name = trimmed_text(max_length=100)
Password = Annotated[str, Field(min_length=8, max_length=128), NoNul]


def _valid_email(value: str) -> str:
    # As pydantic's EmailStr: syntax only (no DNS lookup); special-use domains (.test, .local,
    # ...) are refused, and the published pattern below says so.
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from exc


# Not ending in a special-use domain (JSON Schema patterns have no case-insensitive flag).
_SPECIAL_USE = "|".join(any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
EMAIL_PATTERN = rf"^(?!.*@(?:.*\.)?(?:{_SPECIAL_USE})\.?$)"
Email = Annotated[
    str,
    Field(max_length=320),
    AfterValidator(_valid_email),
    WithJsonSchema(
        {"type": "string", "format": "email", "maxLength": 320, "pattern": EMAIL_PATTERN}
    ),
]
OtpCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class RegisterRequest(ApiModel):
    email: Email
    password: Password
    first_name: Name
    last_name: Name
    role: Literal["student", "instructor"]


class RegisterResponse(ApiModel):
    message: str
    expires_in: int


class VerifyOtpRequest(ApiModel):
    email: Email
    otp: OtpCode


class LoginRequest(ApiModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=128), NoNul]


class GoogleSignInRequest(ApiModel):
    # A Google ID token is a JWT of a kilobyte or two; anything far longer is not one.
    id_token: Annotated[str, Field(min_length=1, max_length=8192), NoNul]
    role: Literal["student", "instructor"] = "student"


class PasswordResetRequest(ApiModel):
    email: Email


class PasswordResetConfirm(ApiModel):
    email: Email
    otp: OtpCode
    new_password: Password


class MessageResponse(ApiModel):
    message: str


class UserOut(ApiModel):
    id: uuid.UUID
    email: str
    role: str
    is_admin: bool
    first_name: str | None = None
    last_name: str | None = None
    credit_balance: int | None = None


class TokenResponse(ApiModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut

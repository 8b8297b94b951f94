"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from medgrader.core.schemas import ApiModel, NoNul

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul]
Password = Annotated[str, Field(min_length=8, max_length=128), NoNul]
OtpCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class RegisterRequest(ApiModel):
    email: EmailStr
    password: Password
    first_name: Name
    last_name: Name
    role: Literal["student", "instructor"]


class RegisterResponse(ApiModel):
    message: str
    expires_in: int


class VerifyOtpRequest(ApiModel):
    email: EmailStr
    otp: OtpCode


class LoginRequest(ApiModel):
    email: EmailStr
    password: Annotated[str, Field(min_length=1, max_length=128), NoNul]


class GoogleSignInRequest(ApiModel):
    # A Google ID token is a JWT of a kilobyte or two; anything far longer is not one.
    id_token: Annotated[str, Field(min_length=1, max_length=8192), NoNul]
    role: Literal["student", "instructor"] = "student"


class PasswordResetRequest(ApiModel):
    email: EmailStr


class PasswordResetConfirm(ApiModel):
    email: EmailStr
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

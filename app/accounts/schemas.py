"""Request and response bodies of the accounts API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
Password = Field(min_length=8, max_length=128)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class BidderRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Username
    password: str = Password
    display_name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=5, max_length=32, pattern=r"^[0-9 +()-]+$")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Username
    password: str = Password
    role: Literal["admin", "official", "auditor", "bidder"]
    village_id: int | None = None
    display_name: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=32)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    village_id: int | None
    display_name: str


class VillageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    township: str = Field(min_length=1, max_length=100)


class VillageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    township: str

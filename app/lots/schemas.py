"""Request and response bodies of the lots API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

Format = Literal["timed", "sequential", "sealed"]
AssetKind = Literal["market", "farmland", "fishpond", "shopfront", "industrial_land", "other"]


class LotFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    asset_kind: AssetKind
    description: str = Field(default="", max_length=10_000)
    location: str = Field(default="", max_length=200)
    area_m2: StrictInt | None = Field(default=None, ge=0, le=10**12)
    lease_term_months: StrictInt = Field(ge=1, le=1200)
    format: Format
    rules: dict[str, Any] = Field(default_factory=dict)
    starts_at: AwareDatetime | None = None


class LotPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    asset_kind: AssetKind | None = None
    description: str | None = Field(default=None, max_length=10_000)
    location: str | None = Field(default=None, max_length=200)
    area_m2: StrictInt | None = Field(default=None, ge=0, le=10**12)
    lease_term_months: StrictInt | None = Field(default=None, ge=1, le=1200)
    format: Format | None = None
    rules: dict[str, Any] | None = None
    starts_at: AwareDatetime | None = None


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)


class RegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_bid_fen: StrictInt | None = Field(default=None, ge=1, le=2**53)


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deposit_fen: StrictInt = Field(ge=0, le=2**53)
    note: str = Field(default="", max_length=1000)
    priority: bool = False
    """Grant the right of first refusal (优先权), e.g. to the sitting tenant."""


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


class RegistrationOut(BaseModel):
    """A registration as its officials and auditors see it, identity included."""

    id: int
    lot_id: int
    status: str
    bidder_number: str | None
    user_id: int
    username: str
    display_name: str
    phone: str
    priority: bool
    deposit_fen: int | None
    note: str
    reject_reason: str
    created_at: datetime


class MyRegistration(BaseModel):
    id: int
    lot_id: int
    lot_title: str
    status: str
    bidder_number: str | None
    reject_reason: str


class LotSummary(BaseModel):
    id: int
    village_id: int
    village: str
    title: str
    asset_kind: str
    format: str
    status: str
    current_price_fen: int | None
    deadline: datetime | None
    starts_at: datetime | None
    lease_term_months: int


class LotPage(BaseModel):
    items: list[LotSummary]
    page: int
    page_size: int
    total: int


class LotSnapshot(BaseModel):
    """What anyone may see of a lot at one moment (no reserve price, no identities)."""

    id: int
    village_id: int
    village: str
    title: str
    asset_kind: str
    description: str
    location: str
    area_m2: int | None
    lease_term_months: int
    format: str
    rules: dict[str, Any]
    starts_at: datetime | None
    status: str
    phase: str | None
    current_price_fen: int | None
    leader: str | None
    round: int
    turn: str | None
    deadline: datetime | None
    bid_count: int
    seq: int
    watchers: int
    result: dict[str, Any] | None
    server_time: datetime


class LotDetail(LotSnapshot):
    """The snapshot plus what the lot's officials and auditors may see (the full rules)."""

    full_rules: dict[str, Any]


class PublicBid(BaseModel):
    seq: int
    bidder_number: str
    amount_fen: int
    at: datetime

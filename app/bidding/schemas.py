"""Request and response bodies of the bidding API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class BidRequest(BaseModel):
    """A bid of ``amount_fen``, or on a sequential turn ``{"action": "keep"}`` / ``"withdraw"``."""

    model_config = ConfigDict(extra="forbid")

    amount_fen: StrictInt | None = Field(default=None, ge=1, le=2**53)
    action: Literal["bid", "keep", "withdraw"] = "bid"

    @model_validator(mode="after")
    def _amount_only_for_bids(self) -> BidRequest:
        if self.action == "bid" and self.amount_fen is None:
            raise ValueError("amount_fen is required for a bid")
        if self.action != "bid" and self.amount_fen is not None:
            raise ValueError(f"{self.action} takes no amount")
        return self


class PriorityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["match", "decline"]


class Receipt(BaseModel):
    """Proof that a bid was accepted: signed by the log's key over the fields before it."""

    lot_id: int
    bidder_number: str
    action: str
    amount_fen: int | None
    at: datetime
    seq: int
    hash: str
    signature: str
    public_key: str

"""Every table of the service, imported in one place for Alembic and the drift test."""

from app.accounts.models import User, Village
from app.audit.models import EventRecord, LogHead
from app.bidding.models import IdempotentRequest
from app.db import Base
from app.lots.models import Lot, Registration

metadata = Base.metadata

__all__ = [
    "EventRecord",
    "IdempotentRequest",
    "LogHead",
    "Lot",
    "Registration",
    "User",
    "Village",
    "metadata",
]

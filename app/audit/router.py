"""HTTP endpoints of the audit log: checkpoints, the public key, downloads and event search."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.audit import chain, checkpoints, exports
from app.audit import service as audit_service
from app.audit.identities import load_identities
from app.audit.notes import CheckpointSigner, key_id, verifier_key
from app.audit.schemas import AuditEvent, AuditEventPage, CheckpointOut, LogKey
from app.deps import MAX_ID, AuditorUser, CurrentUser, LotId, SessionDep, sessionmaker_of
from app.errors import AppError
from app.runtime import Runtime

router = APIRouter(tags=["audit"])


class NDJSONResponse(StreamingResponse):
    media_type = "application/x-ndjson"


class CSVResponse(Response):
    media_type = "text/csv"
    charset = "utf-8"


MAX_SEQ = 2**63 - 1
"""Sequence numbers are 64-bit in the database; larger ones are refused (422), not a 500."""


async def _signer(request: Request) -> CheckpointSigner:
    runtime: Runtime = request.app.state.runtime
    return checkpoints.checkpoint_signer(runtime.signer)


SignerDep = Annotated[CheckpointSigner, Depends(_signer)]


@router.get("/.well-known/auction-log-key", response_model=LogKey)
async def log_key(signer: SignerDep) -> LogKey:
    """The Ed25519 key that signs checkpoints and receipts: fetch it out of band for verify."""
    raw = signer.signer.public_key_raw
    return LogKey(
        algorithm="ed25519",
        public_key=base64.b64encode(raw).decode(),
        key_name=signer.origin,
        key_id=key_id(signer.origin, raw).hex(),
        verifier_key=verifier_key(signer.origin, raw),
    )


@router.get("/api/audit/checkpoint", response_model=CheckpointOut)
async def latest_checkpoint(session: SessionDep, signer: SignerDep) -> Any:
    """The latest signed checkpoint (signed at least every minute while events flow)."""
    found = await checkpoints.current_checkpoint(session, signer)
    if found is None:
        return signer.sign(0, chain.GENESIS_HASH).as_json(signer.signer.public_key_b64, None)
    return found


@router.get("/api/audit/log.ndjson", response_class=NDJSONResponse)
async def download_log(
    request: Request,
    _: AuditorUser,
    session: SessionDep,
    signer: SignerDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
) -> NDJSONResponse:
    """The whole log after seq ``after``, streamed: a header line, one line per event, and the
    checkpoint of the last event. Check it offline with ``auction verify FILE``."""
    export = await exports.plan_log_export(session, signer, after)
    filename = f"auction-log-{after + 1}-{export.until}.ndjson"
    return NDJSONResponse(
        exports.stream_log(sessionmaker_of(request), export),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/api/audit/events", response_model=AuditEventPage)
async def search_events(
    _: AuditorUser,
    session: SessionDep,
    lot_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    bidder: Annotated[str | None, Query(max_length=32)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    types: Annotated[list[str] | None, Query(alias="type")] = None,
    after: datetime | None = None,
    before: datetime | None = None,
    cursor: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditEventPage:
    """Events by lot, bidder number (with ``lot_id``), actor, type and time, oldest first."""
    if bidder and lot_id is None:
        raise AppError(422, "bidder_needs_lot", "Bidder numbers are per lot: give lot_id too.")
    search = audit_service.EventFilter(
        lot_id=lot_id,
        bidder=bidder,
        actor=actor,
        types=tuple(types or ()),
        after=_utc(after),
        before=_utc(before),
    )
    records = await audit_service.search_events(session, search, cursor=cursor, limit=limit)
    identities = await load_identities(
        session, {r.lot_id for r in records}, {r.actor for r in records}
    )
    items = [AuditEvent(**exports.event_entry(r, identities)) for r in records]
    return AuditEventPage(
        items=items, next_cursor=records[-1].seq if len(records) == limit else None
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A time given without a zone is taken as UTC, the log's own zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/api/lots/{lot_id}/history.json")
async def lot_history_json(
    lot_id: LotId, viewer: CurrentUser, session: SessionDep, signer: SignerDep
) -> Response:
    """The lot's whole history with identities, hashes and its (closing) checkpoint."""
    lot = await exports.lot_for_history(session, viewer, lot_id)
    history = await exports.lot_history(session, signer, lot)
    return Response(
        exports.history_json(history),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="lot-{lot_id}-history.json"'},
    )


@router.get("/api/lots/{lot_id}/history.csv", response_class=CSVResponse)
async def lot_history_csv(
    lot_id: LotId, viewer: CurrentUser, session: SessionDep, signer: SignerDep
) -> Response:
    """The same history as CSV for Excel: UTF-8 with BOM, columns in Chinese and English."""
    lot = await exports.lot_for_history(session, viewer, lot_id)
    history = await exports.lot_history(session, signer, lot)
    return CSVResponse(
        exports.history_csv(history).encode(),
        headers={"Content-Disposition": f'attachment; filename="lot-{lot_id}-history.csv"'},
    )

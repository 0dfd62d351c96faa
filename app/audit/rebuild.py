"""The read model rebuilt from imported events: lots, registrations, and what is known of people.

``auction import-log`` feeds every verified event to a ``ReadModel``; lots are folded through the
auction rules by the verifier's replay and projected with ``ledger.project``, as the service does
when it records events. What the log does not carry (names, passwords, phones, villages, deposits)
is not invented: missing accounts become inactive placeholders, and docs/operations.md says how to
restore the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import auction
from app.accounts.models import Role, User, Village
from app.lots import ledger
from app.lots.models import Lot, Registration

PLACEHOLDER_USERNAME = "restored-user-{id}"
PLACEHOLDER_PASSWORD_HASH = "!restored-from-the-log"
"""Not an argon2 hash: no password verifies against it, so a placeholder cannot sign in."""
PLACEHOLDER_VILLAGE = "从日志恢复 (restored from the log)"
UNATTRIBUTED_NOTE = (
    "restored from the log: the log does not say whether or under which number this "
    "registration was approved; check it against the paper records"
)
OWN_ACTS = {"bid_placed": "bidder", "raise_withdrawn": "bidder", "priority_decided": "holder"}
"""Event types only a bidder's own command produces, and the data key naming their number."""


@dataclass
class LotFacts:
    row: Lot
    last_lot_seq: int = 0
    last_hash: str = ""
    last_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    qualifications: list[Qualification] = field(default_factory=list)
    registrations: list[int] = field(default_factory=list)
    """Registration ids of the lot, in the order they were submitted."""


@dataclass
class Qualification:
    """A ``bidder_qualified`` event, and the registrations that were waiting when it happened."""

    number: str
    priority: bool
    initial_bid_fen: int | None
    by: int | None
    at: datetime
    candidates: frozenset[int]


@dataclass
class RegistrationFacts:
    id: int
    lot_id: int
    user_id: int
    at: datetime
    rejected: tuple[str, int | None, datetime] | None = None
    """The reason, who rejected it and when."""
    qualification: Qualification | None = None


@dataclass
class Counts:
    """What the rebuild made, for the import's report."""

    lots: int = 0
    approved: int = 0
    rejected: int = 0
    pending: int = 0
    unattributed: int = 0
    users_kept: int = 0
    users_placeholder: int = 0
    placeholder_village: bool = False


def user_id_of(actor: str) -> int | None:
    if actor.startswith("user:") and actor[5:].isdigit():
        return int(actor[5:])
    return None


class ReadModel:
    """Collects, from each verified event in log order, what the read model needs.

    Lots get a row as soon as their ``lot_created`` arrives (their events refer to it); the rows
    are completed, and registrations and accounts written, by ``finish``.
    """

    def __init__(self, session: Session, *, keep_accounts: bool) -> None:
        self.session = session
        self.keep_accounts = keep_accounts
        self.lots: dict[int, LotFacts] = {}
        self.registrations: dict[int, RegistrationFacts] = {}
        self.users: dict[int, User] = {}
        self.first_seen: dict[int, tuple[datetime, int | None]] = {}
        """Each user id acting in the log: when it first acted, and on which lot."""
        self.bidders: set[int] = set()
        self.numbers: dict[tuple[int, int], str | None] = {}
        """(lot, user) -> the number the user's own acts show (None if they contradict)."""
        self.counts = Counts()
        self._village_id: int | None = None

    def take(
        self,
        *,
        lot_id: int | None,
        lot_seq: int | None,
        type: str,
        at: datetime,
        actor: str,
        data: Any,
        hash: str,
    ) -> None:
        """One event, already verified (chain and rules)."""
        user_id = user_id_of(actor)
        if user_id is not None:
            self.first_seen.setdefault(user_id, (at, lot_id))
        if lot_id is None:
            return
        if type == "lot_created":
            self._create_lot(lot_id, at, user_id, data)
        facts = self.lots[lot_id]
        facts.last_lot_seq, facts.last_hash, facts.last_at = lot_seq or 0, hash, at
        if type == "lot_details_updated":
            facts.details = data
        elif type == "registration_submitted" and user_id is not None:
            registration_id = int(data["registration_id"])
            self.registrations[registration_id] = RegistrationFacts(
                registration_id, lot_id, user_id, at
            )
            facts.registrations.append(registration_id)
            self.bidders.add(user_id)
        elif type == "registration_rejected":
            registration = self.registrations.get(int(data["registration_id"]))
            if registration is not None:
                registration.rejected = (str(data.get("reason", "")), user_id, at)
        elif type == "bidder_qualified":
            self._qualified(facts, at, user_id, data)
        elif type in OWN_ACTS and user_id is not None:
            number = data.get(OWN_ACTS[type])
            key = (lot_id, user_id)
            if key in self.numbers and self.numbers[key] != number:
                self.numbers[key] = None  # contradicting evidence proves nothing
            else:
                self.numbers[key] = number if isinstance(number, str) else None

    def _qualified(self, facts: LotFacts, at: datetime, user_id: int | None, data: Any) -> None:
        waiting = frozenset(
            r for r in facts.registrations if self.registrations[r].rejected is None
        )
        facts.qualifications.append(
            Qualification(
                number=str(data["bidder"]),
                priority=bool(data.get("priority")),
                initial_bid_fen=data.get("initial_bid_fen"),
                by=user_id,
                at=at,
                candidates=waiting,
            )
        )

    def _create_lot(self, lot_id: int, at: datetime, creator: int | None, data: Any) -> None:
        if creator is None:
            raise ValueError(f"lot {lot_id} was not created by a user")
        user = self._known(creator)
        if user is not None and user.village_id is not None:
            village_id = user.village_id
        else:
            village_id = self._village()
        if user is None:
            self._placeholder(creator, role=Role.OFFICIAL, village_id=village_id, at=at)
        row = Lot(
            id=lot_id,
            village_id=village_id,
            created_by=creator,
            title="",
            asset_kind="other",
            description="",
            location="",
            lease_term_months=0,
            format=data["format"],
            rules=data["rules"],
            created_at=at,
            updated_at=at,
        )
        self.session.add(row)
        self.lots[lot_id] = LotFacts(row)
        self.counts.lots += 1

    def _village(self) -> int:
        """The village of lots whose own village the log does not name (made once)."""
        if self._village_id is None:
            village = Village(name=PLACEHOLDER_VILLAGE, township="")
            self.session.add(village)
            self.session.flush()
            self._village_id = village.id
            self.counts.placeholder_village = True
        return self._village_id

    def _known(self, user_id: int) -> User | None:
        """The account with this id if it is already there (kept with ``keep_accounts``)."""
        user = self.users.get(user_id)
        if user is None and self.keep_accounts:
            user = self.session.get(User, user_id)
            if user is not None:
                self.users[user_id] = user
                self.counts.users_kept += 1
        return user

    def _placeholder(
        self, user_id: int, *, role: Role, village_id: int | None, at: datetime
    ) -> None:
        """An inactive account standing for a user id of the log; no password opens it."""
        user = User(
            id=user_id,
            username=PLACEHOLDER_USERNAME.format(id=user_id),
            password_hash=PLACEHOLDER_PASSWORD_HASH,
            role=role.value,
            village_id=village_id if role is Role.OFFICIAL else None,
            display_name="",
            phone="",
            is_active=False,
            created_at=at,
        )
        self.session.add(user)
        self.users[user_id] = user
        self.counts.users_placeholder += 1

    def finish(self, states: dict[int, auction.LotState]) -> Counts:
        """Complete the lots from their replayed states, then write accounts and registrations."""
        for lot_id, facts in self.lots.items():
            self._complete_lot(facts, states[lot_id])
        for user_id, (at, first_lot) in self.first_seen.items():
            if self._known(user_id) is not None:
                continue
            # Who acted on a lot without registering for it ran the lot: one of its officials.
            if first_lot is None or user_id in self.bidders:
                self._placeholder(user_id, role=Role.BIDDER, village_id=None, at=at)
            else:
                village_id = self.lots[first_lot].row.village_id
                self._placeholder(user_id, role=Role.OFFICIAL, village_id=village_id, at=at)
        self.session.flush()
        for facts in self.lots.values():
            self._write_registrations(facts)
        self.session.flush()
        _advance_id_sequences(self.session)
        return self.counts

    @staticmethod
    def _complete_lot(facts: LotFacts, state: auction.LotState) -> None:
        lot = facts.row
        details = facts.details
        for name in ("title", "asset_kind", "description", "location", "area_m2"):
            if name in details:
                setattr(lot, name, details[name])
        lot.lease_term_months = details.get("lease_term_months", lot.lease_term_months)
        lot.starts_at = auction.optional_time(details.get("starts_at"))
        lot.format = state.format
        lot.rules = auction.rules_to_dict(state.rules)
        lot.head_hash = facts.last_hash
        ledger.project(lot, state, facts.last_lot_seq)
        lot.updated_at = facts.last_at or lot.created_at

    def _write_registrations(self, facts: LotFacts) -> None:
        """Registrations as the log shows them: rejected ones, approved ones whose number the
        log attributes (by the bidder's own acts, or as the only registration that could have
        been approved), and the rest pending; those the log cannot settle say so in their note."""
        _attribute(facts, self.registrations, self.numbers)
        unsettled: set[int] = set()
        for qualification in facts.qualifications:
            if not _matched(qualification, self.registrations):
                unsettled |= qualification.candidates
        for registration_id in facts.registrations:
            self.session.add(self._registration_row(self.registrations[registration_id], unsettled))

    def _registration_row(self, facts: RegistrationFacts, unsettled: set[int]) -> Registration:
        row = Registration(
            id=facts.id,
            lot_id=facts.lot_id,
            user_id=facts.user_id,
            status="pending",
            priority=False,
            note="",
            reject_reason="",
            created_at=facts.at,
        )
        if facts.rejected is not None:
            row.status = "rejected"
            row.reject_reason, row.decided_by, row.decided_at = facts.rejected
            self.counts.rejected += 1
        elif facts.qualification is not None:
            q = facts.qualification
            row.status, row.bidder_number, row.priority = "approved", q.number, q.priority
            row.initial_bid_fen, row.decided_by, row.decided_at = q.initial_bid_fen, q.by, q.at
            self.counts.approved += 1
        elif facts.id in unsettled:
            row.note = UNATTRIBUTED_NOTE
            self.counts.unattributed += 1
        else:
            self.counts.pending += 1
        return row


def _matched(qualification: Qualification, registrations: dict[int, RegistrationFacts]) -> bool:
    return any(registrations[r].qualification is qualification for r in qualification.candidates)


def _attribute(
    facts: LotFacts,
    registrations: dict[int, RegistrationFacts],
    numbers: dict[tuple[int, int], str | None],
) -> None:
    """Match the lot's qualifications to registrations: first by the numbers bidders' own acts
    show, then by elimination (a qualification with one possible registration left)."""
    by_number = {q.number: q for q in facts.qualifications}
    for registration_id in facts.registrations:
        registration = registrations[registration_id]
        number = numbers.get((facts.row.id, registration.user_id))
        qualification = by_number.get(number) if number else None
        if (
            qualification is not None
            and registration_id in qualification.candidates
            and not _matched(qualification, registrations)
        ):
            registration.qualification = qualification
    changed = True
    while changed:
        changed = False
        taken = {r for r in facts.registrations if registrations[r].qualification is not None}
        for qualification in facts.qualifications:
            if _matched(qualification, registrations):
                continue
            left = qualification.candidates - taken
            if len(left) == 1:
                registrations[next(iter(left))].qualification = qualification
                changed = True
                break


def _advance_id_sequences(session: Session) -> None:
    """Rows were inserted with the log's ids: PostgreSQL's id sequences must move past them
    (SQLite takes the largest id plus one by itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table, model in (("villages", Village), ("users", User), ("lots", Lot)):
        _set_sequence(session, table, session.execute(select(func.max(model.id))).scalar())
    _set_sequence(
        session, "registrations", session.execute(select(func.max(Registration.id))).scalar()
    )


def _set_sequence(session: Session, table: str, largest: int | None) -> None:
    if largest is None:
        return
    session.execute(
        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :largest)"),
        {"largest": largest},
    )

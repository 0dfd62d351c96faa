"""A lot driven through decide() as the service would, checking replay at every step."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auction import (
    CreateLot,
    Event,
    LotState,
    OpenLot,
    Publish,
    QualifyBidder,
    RuleViolation,
    Tick,
    apply,
    decide,
    next_deadline,
    replay,
)
from app.auction.commands import Command

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def assert_json_only(value: Any) -> None:
    """Event data must survive canonical JSON unchanged: no floats, no datetimes."""
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_json_only(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_only(item)
    else:
        assert value is None or isinstance(value, str | int | bool), value


class Lot:
    """One lot under test, with its own clock; `until` is the status to bring it to."""

    def __init__(
        self,
        format: str,
        rules: Mapping[str, Any],
        bidders: Iterable[str] = (),
        *,
        priority: Iterable[str] = (),
        initial_bids: Mapping[str, int] | None = None,
        until: str = "open",
        start: datetime = T0,
    ) -> None:
        self.now = start
        self.state: LotState | None = None
        self.events: list[Event] = []
        holders = set(priority)
        self.do(CreateLot(format, rules))
        if until == "draft":
            return
        self.do(Publish())
        for bidder in bidders:
            initial = None if initial_bids is None else initial_bids[bidder]
            self.do(QualifyBidder(bidder, bidder in holders, initial))
        if until == "open":
            self.do(OpenLot())

    @property
    def s(self) -> LotState:
        assert self.state is not None
        return self.state

    def do(self, command: Command) -> list[Event]:
        before = copy.deepcopy(self.state)
        events = decide(self.state, command, self.now)
        assert self.state == before, "decide() changed the state"
        for event in events:
            assert event.at == self.now
            assert_json_only(event.data)
            json.dumps(event.data)
            self.state = apply(self.state, event)
            self.events.append(event)
        assert replay(self.events) == self.state
        return events

    def reject(self, command: Command) -> RuleViolation:
        before = copy.deepcopy(self.state)
        with pytest.raises(RuleViolation) as caught:
            decide(self.state, command, self.now)
        assert self.state == before
        return caught.value

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def tick(self) -> list[Event]:
        return self.do(Tick())

    def wait_until_deadline(self) -> None:
        """Move the clock to the next deadline without letting the scheduler run."""
        deadline = next_deadline(self.state)
        assert deadline is not None, "nothing is pending"
        self.now = deadline

    def tick_at_deadline(self) -> list[Event]:
        """Move the clock to the next deadline and let the scheduler run."""
        deadline = next_deadline(self.state)
        assert deadline is not None, "nothing is pending"
        self.now = max(self.now, deadline)
        return self.tick()


def kinds(events: list[Event]) -> list[str]:
    return [event.type for event in events]

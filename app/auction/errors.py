"""The one domain error of the auction rules, with a stable code the UI translates."""

from __future__ import annotations

# Every code decide() can raise, with the sentence the docs give for it.
CODES: dict[str, str] = {
    "bid_too_low": "The bid is below the lowest amount the rules accept now.",
    "not_a_multiple_of_step": "The raise is not a whole multiple of the step (加价幅度).",
    "raise_too_large": "The raise is larger than the largest raise allowed per bid.",
    "above_cap": "The bid is above the cap price (最高限价).",
    "lot_not_open": "The lot is not taking bids: not open yet, bidding over, closed or cancelled.",
    "lot_paused": "The lot is paused (中止); nothing is accepted until it resumes.",
    "not_your_turn": "In sequential rounds only the bidder whose turn it is may act.",
    "already_leading": "The leading bidder may not raise their own bid.",
    "deadline_passed": "The current window ended; the bid arrived at or after its deadline.",
    "bidder_not_qualified": "The bidder number is not a qualified bidder of this lot.",
    "bidder_dropped_out": "In sealed rounds a bidder who skipped a round may not bid again.",
    "already_bid_this_round": "In sealed rounds each bidder submits one bid per round.",
    "already_qualified": "The bidder number is already qualified for this lot.",
    "invalid_bidder": "A bidder number must be a non-empty string of at most 32 characters.",
    "too_few_bidders": "Fewer bidders are qualified than the lot's minimum.",
    "invalid_rules": "A rule parameter is missing, unknown or out of range (see `field`).",
    "invalid_amount": "An amount must be a whole number of fen, above 0 and at most 2**53.",
    "invalid_transition": "The command does not apply to the lot in its current status.",
    "not_priority_holder": "Only the priority holder whose window is open may decide.",
    "initial_bid_required": "Sequential rounds need a sealed initial bid with each qualification.",
    "nothing_to_withdraw": "There is no raise in this turn to withdraw.",
    "reason_required": "Pausing, closing early and cancelling need a reason (1-500 characters).",
}


class RuleViolation(Exception):
    """A command the rules refuse; `code` is stable, `message` is an English sentence."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        # A typo in a code would reach the UI untranslated: fail loudly in tests instead.
        assert code in CODES, f"unknown rule violation code {code!r}"
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"RuleViolation({self.code!r}, {self.message!r}, field={self.field!r})"

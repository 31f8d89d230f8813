"""The points ledger's rules (积分): lots, maturity, expiry, spending order, reversal.

The ledger is append-only; every earned amount also opens a *lot* that remembers how much of it
is left. These functions decide, from lots and a time, what a write takes from which lot; the
service records the decision as ledger entries and per-lot allocations. All amounts are whole
points (int). docs/membership.md states the rules in words, with examples.

Lot accounting, always true for every lot:

    amount = remaining + spent + expired + reversed

`spent` counts points consumed by spends, negative adjustments and claw-backs (net of restores),
`expired` points that expired, `reversed` points removed by reversing the lot's own earn entry.
A reversal also tracks `expired_covered` (expired points counted towards it), `clawed` (taken
from the user's other lots instead) and `owed` (spent points it could not claw back, written
off; a later restore into the lot repays them first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Final, Literal, get_args

from userops.domain.bounds import check_instant
from userops.domain.membership.periods import add_months, local_day, local_midnight
from userops.errors import ConflictError, InputError

EntryKind = Literal["earn", "spend", "expire", "adjust", "reverse"]
ENTRY_KINDS: Final[tuple[str, ...]] = get_args(EntryKind)

ExpiryKind = Literal["never", "days", "month_end", "year_end"]
EXPIRY_KINDS: Final[tuple[str, ...]] = get_args(ExpiryKind)

MAX_POINTS: Final = 10**12
"""The largest amount one write may carry (far beyond any real award; catches unit mistakes).
Level thresholds, rule values and caps, benefit values and quotas and badge tiers are held to
it too."""
MAX_MATURITY_DAYS: Final = 3650
"""The longest time points may stay pending: ten years (a return window is days or weeks)."""
MAX_EXPIRY: Final[dict[str, int]] = {"days": 36_600, "month_end": 1200, "year_end": 100}
"""The largest N of each expiry kind: a hundred years."""

_EXPIRY_TEXT = re.compile(r"^(never|days|month_end|year_end)(?::(\d{1,5}))?$")


class InsufficientPoints(ConflictError):
    """A spend (or a negative adjustment) asked for more than the available balance."""

    def __init__(self, user_id: str, requested: int, available: int):
        self.user_id = user_id
        self.requested = requested
        self.available = available
        super().__init__(
            f"user {user_id!r} has {available} points available, {requested} requested; "
            "nothing was taken"
        )


def check_amount(amount: int, what: str = "amount") -> int:
    """A positive whole number of points, at most MAX_POINTS."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InputError(f"{what} must be a whole number of points, not {amount!r}")
    if not 0 < amount <= MAX_POINTS:
        raise InputError(f"{what} must be between 1 and {MAX_POINTS} points, not {amount}")
    return amount


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """When the points of a lot expire, counted from the local day they become usable.

    - `never`: they do not expire;
    - `days:N`: usable through local day D+N, gone at the midnight that starts day D+N+1;
    - `month_end:N`: gone at the end of the Nth month after D's month (0 = this month);
    - `year_end:N`: gone at the end of the Nth year after D's year (1 = "end of next year").
    """

    kind: ExpiryKind = "never"
    n: int = 0

    def __post_init__(self) -> None:
        if self.kind not in EXPIRY_KINDS:
            raise InputError(f"expiry kind {self.kind!r} is not one of {', '.join(EXPIRY_KINDS)}")
        if self.n < 0 or (self.kind == "days" and self.n < 1):
            raise InputError(f"expiry {self.kind}:{self.n}: the number must be 1 or more")
        if self.kind == "never" and self.n:
            raise InputError("expiry never takes no number")
        if self.kind != "never" and self.n > MAX_EXPIRY[self.kind]:
            raise InputError(
                f"expiry {self.kind}:{self.n}: the number must be at most "
                f"{MAX_EXPIRY[self.kind]} (a hundred years)"
            )

    @classmethod
    def parse(cls, text: str) -> ExpiryRule:
        """`never`, `days:365`, `month_end:0`, `year_end:1` (the number defaults to 0)."""
        found = _EXPIRY_TEXT.match(text.strip())
        if found is None:
            raise InputError(
                f"expiry {text!r} is not one of never, days:N, month_end:N, year_end:N"
            )
        kind = found.group(1)
        assert kind in EXPIRY_KINDS
        return cls(kind, int(found.group(2) or 0))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return "never" if self.kind == "never" else f"{self.kind}:{self.n}"

    def last_day(self, usable_from: date) -> date | None:
        """The last local day the points can be used, or None for never."""
        if self.kind == "never":
            return None
        if self.kind == "days":
            return usable_from + timedelta(days=self.n)
        if self.kind == "month_end":
            return add_months(usable_from.replace(day=1), self.n + 1) - timedelta(days=1)
        return date(usable_from.year + self.n, 12, 31)

    def expires_at(self, usable_from: datetime, tz: tzinfo) -> datetime | None:
        """The instant (UTC) the points stop being usable: the midnight after `last_day`."""
        last = self.last_day(local_day(usable_from, tz))
        return None if last is None else local_midnight(last + timedelta(days=1), tz)


def check_maturity(days: int) -> int:
    """Days points stay pending: 0 (usable at once) to MAX_MATURITY_DAYS."""
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_MATURITY_DAYS:
        raise InputError(f"maturity must be 0 to {MAX_MATURITY_DAYS} days, not {days!r}")
    return days


def lot_times(
    earned_at: datetime, *, maturity_days: int, expiry: ExpiryRule, tz: tzinfo
) -> tuple[datetime, datetime | None]:
    """(matures_at, expires_at) of points earned at `earned_at`.

    Points are pending for `maturity_days` whole days (a return window: 0 = usable at once) and
    their life, for expiry, starts when they become usable.
    """
    check_maturity(maturity_days)
    matures_at = check_instant(earned_at, "earned_at") + timedelta(days=maturity_days)
    return matures_at, expiry.expires_at(matures_at, tz)


@dataclass(frozen=True, slots=True)
class Lot:
    """What is left of one earned amount (an `earn` or positive `adjust` entry)."""

    id: int
    amount: int
    remaining: int
    matures_at: datetime
    expires_at: datetime | None
    spent: int = 0
    expired: int = 0
    reversed: int = 0
    expired_covered: int = 0
    clawed: int = 0
    owed: int = 0

    def is_pending(self, at: datetime) -> bool:
        return at < self.matures_at

    def is_expired(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def is_available(self, at: datetime) -> bool:
        return not self.is_pending(at) and not self.is_expired(at)

    @property
    def reversal_covered(self) -> int:
        """How much of the lot's earn entry reversals have claimed so far."""
        return self.reversed + self.owed + self.expired_covered + self.clawed

    @property
    def reversible(self) -> int:
        return self.amount - self.reversal_covered

    def consistent(self) -> bool:
        counters = (self.remaining, self.spent, self.expired, self.reversed)
        return (
            min(*counters, self.expired_covered, self.clawed, self.owed) >= 0
            and self.amount == sum(counters)
            and self.owed <= self.spent
            and self.expired_covered <= self.expired
            and self.reversal_covered <= self.amount
        )


@dataclass(frozen=True, slots=True)
class Take:
    """Points moved out of (positive) or back into (negative) a lot by one ledger entry."""

    lot_id: int
    amount: int


def spend_order(lot: Lot) -> tuple[bool, datetime, datetime, int]:
    """Lots are used oldest first: the soonest to expire first, never-expiring last, then by
    the time they matured and the order they were earned."""
    never = lot.expires_at is None
    return (never, lot.expires_at or lot.matures_at, lot.matures_at, lot.id)


def available(lots: Iterable[Lot], at: datetime) -> int:
    """Points usable at `at`: matured, not expired."""
    return sum(lot.remaining for lot in lots if lot.is_available(at))


def pending(lots: Iterable[Lot], at: datetime) -> int:
    """Points earned but not matured yet at `at`."""
    return sum(lot.remaining for lot in lots if lot.is_pending(at))


def take_oldest_first(
    lots: Iterable[Lot], amount: int, at: datetime, *, user_id: str = "?"
) -> tuple[Take, ...]:
    """Which lots a consumption of `amount` points takes from, oldest first.

    Only available points are used (pending points cannot be spent). Too few is
    `InsufficientPoints`, and nothing is taken.
    """
    usable = sorted(
        (lot for lot in lots if lot.is_available(at) and lot.remaining), key=spend_order
    )
    have = sum(lot.remaining for lot in usable)
    if amount > have:
        raise InsufficientPoints(user_id, amount, have)
    takes: list[Take] = []
    left = amount
    for lot in usable:
        if not left:
            break
        part = min(left, lot.remaining)
        takes.append(Take(lot.id, part))
        left -= part
    return tuple(takes)


def expiring(lots: Iterable[Lot], at: datetime) -> tuple[Take, ...]:
    """Everything left in lots whose expiry time has come by `at`, oldest first."""
    due = sorted((lot for lot in lots if lot.is_expired(at) and lot.remaining), key=spend_order)
    return tuple(Take(lot.id, lot.remaining) for lot in due)


def apply_takes(lots: Sequence[Lot], takes: Iterable[Take], counter: str) -> list[Lot]:
    """Lots after `takes` moved points from `remaining` into `counter` (`spent`, `expired`)."""
    by_id = {lot.id: lot for lot in lots}
    for take in takes:
        lot = by_id[take.lot_id]
        by_id[take.lot_id] = replace(
            lot,
            remaining=lot.remaining - take.amount,
            **{counter: getattr(lot, counter) + take.amount},
        )
    return [by_id[lot.id] for lot in lots]


@dataclass(frozen=True, slots=True)
class EarnReversal:
    """How a reversal of `requested` points of a lot's earn entry is covered.

    - `from_lot`: taken from what is left of the lot itself (pending or available);
    - `expired`: points of the lot that had already expired, which are gone anyway;
    - `clawback`: what was spent of the lot, taken back from the user's other available lots;
    - `written_off`: what was spent and could not be clawed back (the balance never goes below
      zero); it stays owed by the lot, and a later restore into the lot repays it first.

    The reverse entry's amount is `-(from_lot + clawed)`; it is pending (matures with the lot)
    when the lot is still pending, since then nothing can have been spent or expired.
    """

    lot_id: int
    requested: int
    from_lot: int
    expired: int
    clawback: tuple[Take, ...]
    written_off: int
    pending: bool

    @property
    def clawed(self) -> int:
        return sum(take.amount for take in self.clawback)

    @property
    def ledger_amount(self) -> int:
        return -(self.from_lot + self.clawed)


def plan_earn_reversal(
    lot: Lot,
    others: Iterable[Lot],
    at: datetime,
    *,
    amount: int | None = None,
    user_id: str = "?",
) -> EarnReversal:
    """Reverse `amount` points (default: all not yet reversed) of the entry that opened `lot`.

    Coverage order: the lot's remainder, then its expired points, then a claw-back from the
    user's other available lots (oldest first) up to what they hold, and the rest written off.
    """
    reversible = lot.reversible
    requested = reversible if amount is None else check_amount(amount)
    if reversible <= 0:
        raise InputError(f"entry {lot.id} of user {user_id!r} is already fully reversed")
    if requested > reversible:
        raise InputError(
            f"entry {lot.id} of user {user_id!r}: only {reversible} points are left to reverse, "
            f"{requested} asked"
        )
    from_lot = min(requested, lot.remaining)
    expired = min(requested - from_lot, lot.expired - lot.expired_covered)
    need = requested - from_lot - expired
    rest = [other for other in others if other.id != lot.id]
    clawed = min(need, available(rest, at))
    clawback = take_oldest_first(rest, clawed, at, user_id=user_id) if clawed else ()
    return EarnReversal(
        lot_id=lot.id,
        requested=requested,
        from_lot=from_lot,
        expired=expired,
        clawback=clawback,
        written_off=need - clawed,
        pending=lot.is_pending(at),
    )


def after_earn_reversal(lot: Lot, plan: EarnReversal) -> Lot:
    """The reversed lot's counters after `plan` (the claw-back lots change like a spend)."""
    return replace(
        lot,
        remaining=lot.remaining - plan.from_lot,
        reversed=lot.reversed + plan.from_lot,
        expired_covered=lot.expired_covered + plan.expired,
        clawed=lot.clawed + plan.clawed,
        owed=lot.owed + plan.written_off,
    )


@dataclass(frozen=True, slots=True)
class Held:
    """Points a consumption entry still holds from one lot (taken minus already restored)."""

    lot: Lot
    amount: int


@dataclass(frozen=True, slots=True)
class Restore:
    """Points given back into a lot by reversing a consumption; `repaid` of them settle the
    lot's written-off debt instead of becoming usable again."""

    lot_id: int
    amount: int
    repaid: int

    @property
    def usable(self) -> int:
        return self.amount - self.repaid


def restore_order(held: Held) -> tuple[bool, datetime, datetime, int]:
    """Restores go to the longest-lived lots first: the reverse of `spend_order` (never-expiring
    first, then the latest expiry)."""
    return spend_order(held.lot)


def plan_restore(
    held: Sequence[Held], *, amount: int | None = None, entry: int = 0, user_id: str = "?"
) -> tuple[Restore, ...]:
    """Give back `amount` points (default: all still held) of a spend or negative adjustment.

    Points go back into the lots they came from, longest-lived first; a lot past its expiry
    takes them too and they expire at once (a refund never extends the life of points). Points
    returning to a lot that owes written-off points repay that debt first.
    """
    holding = sum(h.amount for h in held)
    requested = holding if amount is None else check_amount(amount)
    if holding <= 0:
        raise InputError(f"entry {entry} of user {user_id!r} has nothing left to restore")
    if requested > holding:
        raise InputError(
            f"entry {entry} of user {user_id!r}: only {holding} points are left to restore, "
            f"{requested} asked"
        )
    restores: list[Restore] = []
    left = requested
    for item in sorted((h for h in held if h.amount > 0), key=restore_order, reverse=True):
        if not left:
            break
        part = min(left, item.amount)
        restores.append(Restore(item.lot.id, part, min(part, item.lot.owed)))
        left -= part
    return tuple(restores)


def after_restore(lot: Lot, restore: Restore) -> Lot:
    return replace(
        lot,
        remaining=lot.remaining + restore.usable,
        spent=lot.spent - restore.amount,
        reversed=lot.reversed + restore.repaid,
        owed=lot.owed - restore.repaid,
    )

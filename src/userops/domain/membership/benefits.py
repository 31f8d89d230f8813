"""Benefits (权益): what a level entitles a user to, and how often.

The catalogue holds kinds of benefit; each level grants some of them with a value and, where
they can be used up, a quota per period:

| kind | value means | typical quota |
|---|---|---|
| percent_discount | percent off (5 = pay 95%, 九五折) | none |
| free_shipping | - | N per month |
| birthday_gift | gift value in cents | 1 per year |
| monthly_coupons | coupon value in cents | N per month |
| priority_service | - | none |
| points_multiplier | percent (150 = x1.5 points from rules that use it) | none |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, get_args

from userops.domain.membership.periods import PeriodKind, period_start
from userops.domain.membership.points import MAX_POINTS
from userops.errors import InputError

BenefitKind = Literal[
    "percent_discount",
    "free_shipping",
    "birthday_gift",
    "monthly_coupons",
    "priority_service",
    "points_multiplier",
]
BENEFIT_KINDS: Final[tuple[str, ...]] = get_args(BenefitKind)
QuotaPeriod = Literal["day", "week", "month", "year", "lifetime"]
QUOTA_PERIODS: Final[tuple[str, ...]] = get_args(QuotaPeriod)
NO_MULTIPLIER: Final = 100


@dataclass(frozen=True, slots=True)
class Grant:
    """A benefit as one level grants it."""

    code: str
    kind: BenefitKind
    value: int = 0
    quota: int | None = None
    period: QuotaPeriod | None = None

    def __post_init__(self) -> None:
        if self.kind not in BENEFIT_KINDS:
            raise InputError(f"benefit kind {self.kind!r} is not one of {', '.join(BENEFIT_KINDS)}")
        if self.quota is not None and (self.quota < 0 or self.period not in QUOTA_PERIODS):
            raise InputError(
                f"benefit {self.code!r}: a quota needs 0 or more uses and a period "
                f"({', '.join(QUOTA_PERIODS)})"
            )
        if self.kind == "points_multiplier" and not 1 <= self.value <= 10_000:
            raise InputError("a points multiplier is a percent from 1 to 10000 (150 = x1.5)")


def check_grant_numbers(code: str, value: int, quota: int | None) -> None:
    """A new or changed grant's value and quota: whole numbers from 0 to MAX_POINTS (checked
    when a level is given a benefit; `Grant` itself also reads what is stored)."""
    if not 0 <= value <= MAX_POINTS:
        raise InputError(f"benefit {code!r}: the value must be 0 to {MAX_POINTS}, not {value}")
    if quota is not None and not 0 <= quota <= MAX_POINTS:
        raise InputError(f"benefit {code!r}: the quota must be 0 to {MAX_POINTS} uses, not {quota}")


def quota_start(day: date, period: QuotaPeriod) -> date | None:
    """First local day of the quota period containing `day` (None: lifetime, no start)."""
    if period == "lifetime":
        return None
    kind: PeriodKind = period
    return period_start(day, kind)


@dataclass(frozen=True, slots=True)
class Entitlement:
    grant: Grant
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.grant.quota is None else max(0, self.grant.quota - self.used)


def check_use(entitlement: Entitlement, quantity: int, user_id: str) -> None:
    """Refuse a use beyond the quota; benefits without a quota can be used freely."""
    if not 1 <= quantity <= MAX_POINTS:
        raise InputError(f"a benefit is used 1 to {MAX_POINTS} times at once, not {quantity}")
    remaining = entitlement.remaining
    if remaining is not None and quantity > remaining:
        grant = entitlement.grant
        raise InputError(
            f"user {user_id!r} has {remaining} of {grant.quota} uses of {grant.code!r} left "
            f"this {grant.period}; {quantity} asked"
        )


def multiplier_percent(grants: Iterable[Grant]) -> int:
    """The points multiplier a level's benefits give (the largest, or 100 when none)."""
    return max((g.value for g in grants if g.kind == "points_multiplier"), default=NO_MULTIPLIER)

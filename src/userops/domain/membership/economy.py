"""The points economy: how much was issued, redeemed, expired and is still owed.

Formulas (docs/membership.md, "Economy report"), over any set of ledger entries:

- issued      = earn + positive adjust
- redeemed    = spend + negative adjust - restores (reversals of spends)
- expired     = expire
- reversed    = reversals of earns (points taken back, including claw-backs)
- outstanding = issued - redeemed - expired - reversed = the sum of the ledger: the liability
- redemption rate = redeemed / issued; breakage = expired / issued

Rates are Decimals rounded to 4 places, or None when nothing was issued (a stable answer
instead of a division by zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal


@dataclass(frozen=True, slots=True)
class Flows:
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    reversed: int = 0

    @property
    def net(self) -> int:
        """What these flows add to the outstanding balance."""
        return self.issued - self.redeemed - self.expired - self.reversed

    def __add__(self, other: Flows) -> Flows:
        return Flows(
            self.issued + other.issued,
            self.redeemed + other.redeemed,
            self.expired + other.expired,
            self.reversed + other.reversed,
        )

    @property
    def redemption_rate(self) -> Decimal | None:
        return ratio(self.redeemed, self.issued)

    @property
    def breakage(self) -> Decimal | None:
        return ratio(self.expired, self.issued)


def ratio(part: int, whole: int) -> Decimal | None:
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def classify(kind: str, amount: int, *, restore: bool = False) -> Flows:
    """The flows one ledger entry contributes (see the module docstring); `restore` marks a
    reversal of a spend or a negative adjustment."""
    if kind == "earn" or (kind == "adjust" and amount > 0):
        return Flows(issued=amount)
    if kind == "spend" or (kind == "adjust" and amount < 0):
        return Flows(redeemed=-amount)
    if kind == "expire":
        return Flows(expired=-amount)
    if kind == "reverse":
        if restore:
            return Flows(redeemed=-amount)
        return Flows(reversed=-amount)
    raise ValueError(f"unknown ledger entry kind {kind!r}")

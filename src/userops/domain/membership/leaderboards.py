"""Leaderboards (排行榜): periodic rankings of a metric, honours that change all the time.

They are kept apart from levels: a rank never moves a level. Ties share a rank and the next
rank skips ("1, 2, 2, 4"); among equals the user id orders the display. A board of size N keeps
everyone ranked N or better (so ties at the edge can make it longer than N).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

BoardMetric = Literal["points_earned", "growth_earned", "event_count", "revenue"]
BOARD_METRICS: Final[tuple[str, ...]] = get_args(BoardMetric)


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    user_id: str
    value: int


def rank(values: Iterable[tuple[str, int]], size: int) -> tuple[Ranked, ...]:
    """Standard competition ranking of positive values, best first, cut at rank `size`."""
    ordered = sorted(((u, v) for u, v in values if v > 0), key=lambda uv: (-uv[1], uv[0]))
    board: list[Ranked] = []
    for position, (user, value) in enumerate(ordered, start=1):
        place = board[-1].rank if board and board[-1].value == value else position
        if place > size:
            break
        board.append(Ranked(place, user, value))
    return tuple(board)

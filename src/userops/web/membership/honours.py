"""Badges (勋章) and leaderboards (排行榜): the lists, and a board's standings for a period
(stored by `userops boards compute`; operators can compute the current period here)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from userops.errors import InputError
from userops.membership import badges, leaderboards
from userops.web.deps import Viewer, runtime_of
from userops.web.membership.common import PREFIX, Changer, engine_of, today, tz_of
from userops.web.membership.forms import day
from userops.web.rendering import flash, render

router = APIRouter(prefix=PREFIX)


@router.get("/honours")
def honours_page(request: Request, operator: Viewer) -> Response:
    engine = engine_of(request)
    context = {
        "tab": "honours",
        "badges": badges.list_badges(engine),
        "boards": leaderboards.list_leaderboards(engine),
    }
    return render(request, "membership/honours.html", context)


@router.get("/boards/{code}")
def board_page(request: Request, code: str, operator: Viewer, on: str | None = None) -> Response:
    error = None
    try:
        chosen = day(on, "the day") or today(request)
    except InputError as exc:
        error, chosen = str(exc), today(request)
    try:
        found = leaderboards.standings(engine_of(request), code=code, day=chosen)
    except InputError:
        return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)
    context = {"tab": "honours", "standings": found, "on": chosen.isoformat(), "error": error}
    return render(request, "membership/board.html", context, status_code=400 if error else 200)


@router.post("/boards/{code}/compute")
def compute_board(request: Request, code: str, operator: Changer) -> Response:
    """Rank the current period now (the warehouse is needed for event and revenue boards)."""
    runtime = runtime_of(request)
    try:
        with runtime.warehouse() as wh:
            leaderboards.compute(
                runtime.engine, code=code, day=today(request), wh=wh, tz=tz_of(request)
            )
    except InputError:
        return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)
    flash(request, "membership.board.computed", code=code)
    return RedirectResponse(f"/membership/boards/{code}", status_code=303)

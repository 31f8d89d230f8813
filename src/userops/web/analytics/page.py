"""One analytics page: read the controls, ask one service, render the page or just its results.

A plain GET renders the whole page (the tabs, the controls, the results). The controls form
sends the same GET through htmx, which swaps only the results (`#analytics-results`) and puts
the new URL in the address bar, so what the operator sees can always be shared by its URL.
Bad input (an InputError from parsing or from the service) is shown in the results: a 400 page
for a plain GET, a 200 fragment for htmx (which swaps only 2xx replies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, TypeVar

from fastapi import Request
from starlette.responses import Response

from userops.analytics import catalog
from userops.analytics.catalog import DataDays
from userops.analytics.filters import TRAIT_COLUMNS
from userops.errors import InputError
from userops.warehouse.connection import Warehouse
from userops.web.analytics.controls import COMMON, Common, Params, quick_ranges, read_common
from userops.web.deps import locale_of, runtime_of, settings_of
from userops.web.i18n import Translator, translator
from userops.web.rendering import render

TABS: Final = ("activity", "retention", "funnels", "revenue", "channels", "lifecycle")
RESULTS_ID: Final = "analytics-results"
SUGGESTED_TRAITS: Final = ("channel", "gender", "occupation", "province", "city")

G = TypeVar("G")
P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Ask:
    """What a page's builder gets: the parameters, the common controls, the data's extent."""

    params: Params
    common: Common
    covered: DataDays | None
    events: list[str]  # event names that exist, most frequent first
    t: Translator

    def label(self, group: str | None) -> str:
        """A breakdown group as shown: users without the trait read '(not set)'."""
        return self.t("analytics.not_set") if group is None else group


Builder = Callable[[Warehouse, Ask], dict[str, Any]]
Presets = Callable[[Params, list[str], DataDays | None, Translator], list[dict[str, str]]]


def grouped(points: Iterable[P], group_of: Callable[[P], G]) -> dict[G, list[P]]:
    """Points by group, in the service's group order."""
    out: dict[G, list[P]] = {}
    for point in points:
        out.setdefault(group_of(point), []).append(point)
    return out


def _partial(request: Request) -> bool:
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-history-restore-request") != "true"
        and headers.get("hx-target") == RESULTS_ID
    )


def _escaped(value: str) -> str:
    """A value as a filter writes it: a comma inside it is `\\,` (a bare comma means "any of")."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def _pickers(wh: Warehouse) -> dict[str, Any]:
    """Suggestions for the filter inputs and the breakdown select."""
    values = {field: catalog.trait_values(wh, field) for field in SUGGESTED_TRAITS}
    custom = [f"trait.{key}" for key in catalog.custom_trait_keys(wh)]
    suggestions = [
        f"{field}={_escaped(value)}" for field, vs in values.items() for value in vs[:12]
    ]
    return {"suggestions": suggestions, "breakdowns": [*TRAIT_COLUMNS, *custom]}


def _tab_links(params: Params) -> dict[str, str]:
    return {tab: params.link(f"/analytics/{tab}", keep=COMMON) for tab in TABS}


def _ranges(params: Params, covered: DataDays | None, today: date) -> list[dict[str, str]]:
    return [
        {"label": label, "href": params.link(from_=lo, to=hi)}
        for label, lo, hi in quick_ranges(covered, today)
    ]


def ask_of(request: Request, wh: Warehouse, params: Params) -> Ask:
    """What a builder gets for `params` read on today's local day, outside a page (a download,
    a save); InputError names a bad parameter."""
    today = datetime.now(settings_of(request).tz).date()
    covered = catalog.data_days(wh)
    common = read_common(params, covered, today)
    return Ask(params, common, covered, catalog.event_names(wh), translator(locale_of(request)))


def show(
    request: Request, tab: str, build: Builder, presets: Presets | None = None, **extra: Any
) -> Response:
    """Answer a GET of the analytics page `tab`, whose results `build` computes; `presets` gives
    the page's one-click questions (links)."""
    params = Params(request.query_params, request.url.path)
    settings = settings_of(request)
    today = datetime.now(settings.tz).date()
    t = translator(locale_of(request))
    partial = _partial(request)
    error: str | None = None
    results: dict[str, Any] = {}
    common: Common | None = None
    context: dict[str, Any] = {"tab": tab, "timezone": settings.timezone, **extra}
    with runtime_of(request).warehouse() as wh:
        covered = catalog.data_days(wh)
        events = catalog.event_names(wh)
        if not partial:
            context.update(_pickers(wh))
            context["presets"] = presets(params, events, covered, t) if presets else []
        try:
            common = read_common(params, covered, today)
            results = build(wh, Ask(params, common, covered, events, t))
        except InputError as exc:
            error = str(exc)
    context.update(
        params=params,
        form=params.first(),
        where=params.raw("where"),
        common=common,
        covered=covered,
        events=events,
        results=results,
        error=error,
        results_id=RESULTS_ID,
        tabs=TABS,
        tab_links=_tab_links(params),
        ranges=_ranges(params, covered, today),
    )
    context["oob"] = partial  # the tabs and range links follow the swapped results
    name = "analytics/_partial.html" if partial else f"analytics/{tab}.html"
    status = 400 if error is not None and not partial else 200
    return render(request, name, context, status_code=status)

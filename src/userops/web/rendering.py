"""Rendering console pages: the Jinja2 environment and what every template can use.

Every template gets `t` (the request's language), `locale`, `csrf_token`, `operator` (or None),
`allows(permission)`, `nav` (the navigation frame), `flash` (a one-time message), and the
filters `num` (thousands separators), `pct` (a share as a percentage) and `localtime` (an
instant in USEROPS_TIMEZONE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from userops import __version__
from userops.domain.roles import Permission, allows
from userops.web.deps import csrf_token, locale_of, session_of, settings_of
from userops.web.i18n import LOCALES, translator

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")


@dataclass(frozen=True, slots=True)
class NavEntry:
    key: str  # i18n key of the label
    href: str | None  # None: a page that is coming, shown but not a link
    permission: Permission = "view"
    section: str = "main"

    def is_current(self, path: str) -> bool:
        """The entry of the page at `path`: its own page or one below it (an area's tabs)."""
        if self.href is None:
            return False
        return path == self.href or (self.href != "/" and path.startswith(self.href + "/"))


NAV: tuple[NavEntry, ...] = (
    NavEntry("nav.overview", "/"),
    NavEntry("nav.analytics", "/analytics"),
    NavEntry("nav.profiles", "/profiles"),
    NavEntry("nav.membership", "/membership"),
    NavEntry("nav.campaigns", None),
    NavEntry("nav.operators", "/admin/operators", "admin", "admin"),
    NavEntry("nav.keys", "/admin/keys", "admin", "admin"),
    NavEntry("nav.audit", "/admin/audit", "admin", "admin"),
)


def num(value: Any, places: int = 0) -> str:
    """1234567.8 -> '1,234,568' (or with `places` decimals); strings of decimals too."""
    if value is None:
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number:,.{places}f}"


def pct(value: Any, places: int = 1) -> str:
    if value is None:
        return ""
    return f"{float(value) * 100:.{places}f}%"


def _context(request: Request) -> dict[str, Any]:
    locale = locale_of(request)
    t = translator(locale)
    operator = getattr(request.state, "operator", None)
    tz = settings_of(request).tz

    def localtime(
        moment: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M", *, empty: str | None = None
    ) -> str:
        """A moment (or its ISO text, UTC when it names no zone) in the console's time zone."""
        if moment is None or moment == "":
            return t("common.never") if empty is None else empty
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(tz).strftime(fmt)

    def can(permission: Permission) -> bool:
        return operator is not None and allows(operator.role, permission)

    return {
        "t": t,
        "locale": locale,
        "locales": LOCALES,
        "language_names": {code: translator(code)("lang.name") for code in LOCALES},
        "csrf_token": csrf_token(request),
        "operator": operator,
        "allows": can,
        "nav": [entry for entry in NAV if entry.href is None or can(entry.permission)],
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "flash": _pop_flash(request, t),
        "localtime": localtime,
        "version": __version__,
    }


def _pop_flash(request: Request, t: Any) -> str | None:
    flash = session_of(request).pop("flash", None)
    if not isinstance(flash, list) or len(flash) != 2:
        return None
    key, values = flash
    values = dict(values or {})
    if "role" in values:
        values["role"] = t(f"role.{values['role']}")
    text: str = t(str(key), **values)
    return text


def flash(request: Request, key: str, **values: Any) -> None:
    """A message shown once, on the next page rendered for this session."""
    session_of(request)["flash"] = [key, values]


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[_context])
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
templates.env.filters["num"] = num
templates.env.filters["pct"] = pct


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return templates.TemplateResponse(
        request, name, context or {}, status_code=status_code, headers=headers
    )

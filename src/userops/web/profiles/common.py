"""What the profiles pages share: the role aliases, the local day, htmx detection, the form,
and the names of tags and values in the page's language."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.responses import Response

from userops.profiles.user360 import check_contact_rule
from userops.services.auth import OperatorInfo
from userops.web.deps import current_operator, locale_of, require, runtime_of, settings_of
from userops.web.i18n import Translator, translator
from userops.web.rendering import render

PREFIX = "/profiles"

Changer = Annotated[OperatorInfo, Depends(require("change"))]
"""Operators and admins: they save tags and parameters, and start refreshes."""


async def form_data(request: Request) -> FormData:
    """The request's form (parsed once; the CSRF check read it already)."""
    return await request.form()


Form = Annotated[FormData, Depends(form_data)]


def guard_contact(request: Request, *, rule: Any = None, tag_definition: Any = None) -> None:
    """`user360.check_contact_rule` for the signed-in operator's role."""
    operator = current_operator(request)
    role = operator.role if operator is not None else ""
    check_contact_rule(role, rule=rule, tag_definition=tag_definition)


def engine_of(request: Request) -> Engine:
    return runtime_of(request).engine


def tz_of(request: Request) -> ZoneInfo:
    return settings_of(request).tz


def today(request: Request) -> date:
    return datetime.now(tz_of(request)).date()


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def t_of(request: Request) -> Translator:
    return translator(locale_of(request))


def english(request: Request) -> bool:
    return locale_of(request) == "en"


def named(request: Request, name: str | None, name_en: str | None, fallback: str) -> str:
    """A tag's or value's name in the page's language (the Chinese name is the default)."""
    if english(request) and name_en:
        return name_en
    return name or name_en or fallback


def field(form: FormData, name: str, *, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def not_found(request: Request) -> Response:
    return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)

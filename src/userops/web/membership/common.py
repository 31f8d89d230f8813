"""What the membership pages share: the role aliases, the local day, htmx detection."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from userops.services.auth import OperatorInfo
from userops.web.deps import require, runtime_of, settings_of

PREFIX = "/membership"

Changer = Annotated[OperatorInfo, Depends(require("change"))]
"""Operators and admins: they change schemes, rules and balances."""


def engine_of(request: Request) -> Engine:
    return runtime_of(request).engine


def tz_of(request: Request) -> tzinfo:
    return settings_of(request).tz


def today(request: Request) -> date:
    return datetime.now(tz_of(request)).date()


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"

"""Reading the membership forms: every field arrives as text and is checked here, so a bad
value gets a message naming the field (an `InputError`) instead of a 422 page.

The shapes the services take are built here too: level rows, award formulas, caps, filters
(one per line, `category=美妆个护`, `revenue>=100`, `method in a,b`, `invitee?`, or a JSON
object for the operators without a text form: `{"property": "tags", "op": "contains", ...}`).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any, Final

import orjson
from fastapi import Request
from starlette.datastructures import FormData

from userops.domain.membership.incentives import AwardFormula, Caps, Filter
from userops.errors import InputError
from userops.membership.levels import LevelSpec

TEXT_OPS: Final[dict[str, str]] = {
    "eq": "=",
    "ne": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": " in ",
    "not_in": " not in ",
}


async def form_data(request: Request) -> FormData:
    """The request's form (parsed once; the CSRF check read it already)."""
    return await request.form()


def text(form: FormData | dict[str, str], name: str, *, limit: int = 200) -> str:
    value = form.get(name)
    found = value.strip() if isinstance(value, str) else ""
    if len(found) > limit:
        raise InputError(f"{name.replace('_', ' ')} is longer than {limit} characters")
    return found


def whole(
    form: FormData | dict[str, str],
    name: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    label: str | None = None,
) -> int | None:
    """A whole number, or `default` when the field is empty."""
    raw = text(form, name, limit=40)
    if not raw:
        return default
    return number(raw, label or name.replace("_", " "), minimum=minimum)


def number(raw: str, what: str, *, minimum: int | None = None) -> int:
    """A whole number typed by an operator (thousands separators allowed)."""
    cleaned = raw.strip().replace(",", "").replace("_", "")
    try:
        value = int(cleaned)
    except ValueError:
        raise InputError(f"{what} must be a whole number, not {raw.strip()!r}") from None
    if minimum is not None and value < minimum:
        raise InputError(f"{what} must be {minimum} or more, not {value}")
    return value


def required_whole(
    form: FormData | dict[str, str], name: str, *, minimum: int | None = None, label: str = ""
) -> int:
    value = whole(form, name, minimum=minimum, label=label or None)
    if value is None:
        raise InputError(f"{label or name.replace('_', ' ')} is required")
    return value


def day(raw: str | None, label: str) -> date | None:
    if not raw or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(f"{label} must be a date (YYYY-MM-DD), not {raw!r}") from None


def moment(raw: str, label: str, tz: tzinfo) -> datetime | None:
    """A `datetime-local` value (`2026-03-01T10:00`), read in the console's time zone."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{label} must be a date and time, not {raw!r}") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def moment_value(at: datetime | None, tz: tzinfo) -> str:
    """The `datetime-local` value of an instant."""
    return at.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if at is not None else ""


# Level schemes ----------------------------------------------------------------------------


def level_rows(form: FormData) -> list[LevelSpec]:
    """The level rows of a scheme form, lowest first; rows without a code are left out."""
    codes = form.getlist("level_code")
    names = form.getlist("level_name")
    thresholds = form.getlist("level_threshold")
    kinds = form.getlist("level_kind")
    found = []
    for index, raw_code in enumerate(codes):
        code = str(raw_code).strip()
        if not code:
            continue
        raw = str(thresholds[index]).strip() if index < len(thresholds) else ""
        what = f"the threshold of level {code!r}"
        if not raw:
            raise InputError(f"{what} is required")
        threshold = number(raw, what)
        name = str(names[index]).strip() if index < len(names) else ""
        kind = str(kinds[index]) if index < len(kinds) else "earned"
        found.append(LevelSpec(code, name or code, threshold, kind == "invite_only"))
    return found


def scheme_fields(form: FormData) -> dict[str, Any]:
    policy = text(form, "policy") or "only_up"
    return {
        "name": text(form, "name"),
        "levels": level_rows(form),
        "policy": policy,
        "window_months": whole(form, "window_months", minimum=1, label="the window"),
        "keep_days": whole(form, "keep_days", default=0, minimum=0, label="the keep period"),
        "notice_days": whole(form, "notice_days", default=0, minimum=0, label="the notice"),
    }


# Incentive rules ------------------------------------------------------------------------------


def filter_text(doc: dict[str, Any]) -> str:
    """A stored filter as the text an operator would type (JSON when it has no text form)."""
    op, prop, value = doc.get("op"), doc.get("property"), doc.get("value")
    if op == "exists":
        return f"{prop}?"
    if op in ("in", "not_in") and isinstance(value, list):
        return f"{prop}{TEXT_OPS[str(op)]}{','.join(str(v) for v in value)}"
    if op in TEXT_OPS and not isinstance(value, list | dict) and value is not None:
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        return f"{prop}{TEXT_OPS[str(op)]}{shown}"
    return orjson.dumps(doc).decode()


def filter_lines(raw: str) -> list[Filter | str | dict[str, Any]]:
    """One filter per line; a line that starts with `{` is a JSON filter."""
    found: list[Filter | str | dict[str, Any]] = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise InputError(f"filter {line!r} is not valid JSON") from None
            if not isinstance(doc, dict):
                raise InputError(f"filter {line!r} is not a JSON object")
            found.append(Filter.from_json(doc))
        else:
            found.append(Filter.parse(line))
    return found


def _formula(form: FormData, prefix: str, unit: int) -> AwardFormula:
    mode = text(form, f"{prefix}_mode") or "none"
    if mode == "none":
        return AwardFormula("none", 0, unit)
    value = required_whole(form, f"{prefix}_value", label=f"the {prefix} amount")
    if value < 1:
        raise InputError(f"the {prefix} amount must be 1 or more, not {value}")
    return AwardFormula(mode, value, unit)  # type: ignore[arg-type]


def _caps(form: FormData, prefix: str) -> Caps:
    return Caps(
        whole(form, f"{prefix}_cap_day", minimum=0, label=f"the daily {prefix} cap"),
        whole(form, f"{prefix}_cap_period", minimum=0, label=f"the {prefix} cap per period"),
        whole(form, f"{prefix}_cap_lifetime", minimum=0, label=f"the lifetime {prefix} cap"),
    )


def rule_fields(form: FormData, tz: tzinfo) -> dict[str, Any]:
    """Everything of a rule but its code, as `create_rule`/`update_rule` take it."""
    unit = whole(form, "unit_cents", default=100, minimum=1, label="the amount unit") or 100
    scheme = text(form, "multiplier_scheme", limit=64)
    starts_at = moment(text(form, "starts_at", limit=40), "the start", tz)
    ends_at = moment(text(form, "ends_at", limit=40), "the end", tz)
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InputError("a rule must end after it starts")
    return {
        "name": text(form, "name"),
        "event": text(form, "event"),
        "filters": filter_lines(text(form, "filters", limit=5000)),
        "points": _formula(form, "points", unit),
        "growth": _formula(form, "growth", unit),
        "points_caps": _caps(form, "points"),
        "growth_caps": _caps(form, "growth"),
        "cap_period": text(form, "cap_period") or "month",
        "multiplier_scheme": scheme or None,
        "maturity_days": whole(form, "maturity_days", default=0, minimum=0, label="maturity") or 0,
        "expiry": text(form, "expiry", limit=32) or "never",
        "reference_property": text(form, "reference_property") or "order_id",
        "starts_at": starts_at,
        "ends_at": ends_at,
    }

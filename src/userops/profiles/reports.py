"""What the console's profile dashboards show, computed from the stored tag values: the RFM
groups (users, revenue and its share, average R/F/M scores), a tag's values in the tag's own
order (the lifecycle stages, the S-D pyramid), and a tag's distribution *before* saving new
parameters or a new rule (the editor's preview).

The dashboards read the current values (`tag_values`, equal to the latest snapshot), so their
counts are the counts every segment rule and the user 360 see. The RFM revenue is each tagged
buyer's revenue in the lookback window of `rfm_group`'s parameters, ending on the day of its
latest snapshot (the day the groups were computed for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import Engine

from userops.analytics.base import Source
from userops.errors import InputError
from userops.membership.tags import member_tags
from userops.profiles import computed, tagvalues, taxonomy
from userops.profiles.computed import activity, grade, intent, lifecycle, rfm
from userops.profiles.computed import membership as member_model
from userops.profiles.computed.facts import Need, money_or_zero, user_facts
from userops.profiles.ruletags import evaluate_rule_tag
from userops.profiles.taxonomy import TagInfo
from userops.store.types import utcnow

RFM_GROUP: Final = "rfm_group"
RFM_SCORES: Final = {"r": "rfm_r", "f": "rfm_f", "m": "rfm_m"}
PARAM_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "rfm": rfm.FIELDS,
    "lifecycle": lifecycle.FIELDS,
    "grade": grade.FIELDS,
    "intent": intent.FIELDS,
    "activity": activity.FIELDS,
    computed.MEMBER_MODEL: ("scheme",),
}
"""Every parameter a model reads, in the order an editor shows them."""


@dataclass(frozen=True, slots=True)
class ValueCount:
    """Users holding one value of a tag; `name`/`name_en` from the tag's labels, if any."""

    value: str
    name: str | None
    name_en: str | None
    users: int
    share: float | None  # of the tag's users

    def as_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "name": self.name,
            "name_en": self.name_en,
            "users": self.users,
            "share": self.share,
        }


def _share(part: int | Decimal, whole: int | Decimal) -> float | None:
    return float(part / whole) if whole else None


def ordered_counts(info: TagInfo, rows: Sequence[Mapping[str, Any]]) -> list[ValueCount]:
    """`rows` (value, users) in the tag's label order, every label shown (0 when nobody holds
    it), values outside the labels after them by users."""
    counts = {str(r["value"]): int(r["users"]) for r in rows}
    total = sum(counts.values())
    out = [
        ValueCount(lb.code, lb.name, lb.name_en, counts.get(lb.code, 0), None) for lb in info.labels
    ]
    known = {lb.code for lb in info.labels}
    others = sorted(((v, n) for v, n in counts.items() if v not in known), key=lambda p: -p[1])
    out += [ValueCount(v, None, None, n, None) for v, n in others]
    return [ValueCount(c.value, c.name, c.name_en, c.users, _share(c.users, total)) for c in out]


def value_counts(engine: Engine, source: Source, tag: str) -> list[ValueCount]:
    """The current users per value of `tag`, in the tag's own order (NotFoundError: no tag)."""
    info = taxonomy.get_tag(engine, tag)
    return ordered_counts(info, tagvalues.distribution(source, tag, limit=1000))


# -- RFM --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RfmGroup:
    code: str
    name: str
    name_en: str
    users: int
    user_share: float | None
    revenue: Decimal
    revenue_share: float | None
    avg_r: float | None
    avg_f: float | None
    avg_m: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "users": self.users,
            "user_share": self.user_share,
            "revenue": str(self.revenue),
            "revenue_share": self.revenue_share,
            "avg_r": self.avg_r,
            "avg_f": self.avg_f,
            "avg_m": self.avg_m,
        }


@dataclass(frozen=True, slots=True)
class RfmReport:
    day: date | None  # the snapshot the groups come from; None before the first refresh
    lookback_days: int
    refreshed_at: datetime | None
    groups: tuple[RfmGroup, ...]  # the eight groups, in the model's order

    @property
    def users(self) -> int:
        return sum(g.users for g in self.groups)

    @property
    def revenue(self) -> Decimal:
        return sum((g.revenue for g in self.groups), Decimal(0))

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat() if self.day else None,
            "lookback_days": self.lookback_days,
            "users": self.users,
            "revenue": str(self.revenue),
            "groups": [g.as_json() for g in self.groups],
        }


def _scores(source: Source) -> ir.Table:
    """user_id, group, r, f, m: the current RFM tags of each buyer, one row per buyer."""
    values = source.table("tag_values")
    out = values.filter(values.tag == RFM_GROUP).select("user_id", group="value")
    for key, code in RFM_SCORES.items():
        scores = values.filter(values.tag == code)
        scores = scores.select(**{f"_{key}_uid": scores.user_id, key: scores.number})
        joined = out.left_join(scores, out.user_id == scores[f"_{key}_uid"])
        out = joined.drop(f"_{key}_uid")
    return out


def rfm_report(engine: Engine, source: Source) -> RfmReport:
    """The eight RFM groups as the last refresh left them, with the revenue of their buyers."""
    info = taxonomy.get_tag(engine, RFM_GROUP)
    params = rfm.parse(taxonomy.resolved_params(engine, RFM_GROUP))
    days = tagvalues.snapshot_dates(source, RFM_GROUP)
    rows: dict[str, dict[str, Any]] = {}
    day = days[-1] if days else None
    if day is not None:
        need = Need("revenue", params.lookback_days)
        facts = user_facts(source, [need], today=day)
        money = facts.select(_m_uid=facts.user_id, revenue=money_or_zero(facts[need.column]))
        scores = _scores(source)
        joined = scores.left_join(money, scores.user_id == money._m_uid)
        revenue = joined.revenue.fill_null(ibis.literal(0, type=dt.Decimal(38, 2)))
        per_group = joined.group_by("group").aggregate(
            users=joined.count(),
            revenue=revenue.sum(),
            avg_r=joined.r.mean(),
            avg_f=joined.f.mean(),
            avg_m=joined.m.mean(),
        )
        rows = {str(r["group"]): r for r in per_group.to_pyarrow().to_pylist()}
    total_users = sum(int(r["users"]) for r in rows.values())
    total_revenue = sum((Decimal(r["revenue"] or 0) for r in rows.values()), Decimal(0))
    groups = []
    for label in info.labels:
        row = rows.get(label.code, {})
        users = int(row.get("users") or 0)
        money_in = Decimal(row.get("revenue") or 0)
        groups.append(
            RfmGroup(
                label.code,
                label.name,
                label.name_en,
                users,
                _share(users, total_users),
                money_in,
                _share(money_in, total_revenue),
                row.get("avg_r"),
                row.get("avg_f"),
                row.get("avg_m"),
            )
        )
    return RfmReport(day, params.lookback_days, info.refreshed_at, tuple(groups))


# -- previews ---------------------------------------------------------------------------------


def param_fields(model: str) -> tuple[str, ...]:
    return PARAM_FIELDS.get(model, ())


def _counted(rows: ir.Table | pa.Table) -> list[dict[str, Any]]:
    if isinstance(rows, pa.Table):
        counts: dict[str, int] = {}
        for value in rows.column("value").to_pylist():
            if value is not None:
                counts[str(value)] = counts.get(str(value), 0) + 1
        return [{"value": v, "users": n} for v, n in counts.items()]
    clean = rows.filter(rows.user_id.notnull(), rows.value.notnull())
    grouped = clean.group_by("value").aggregate(users=clean.count())
    found: list[dict[str, Any]] = grouped.order_by(ibis.desc("users")).to_pyarrow().to_pylist()
    return found


def preview_tag(
    engine: Engine,
    source: Source,
    code: str,
    *,
    today: date,
    tz: ZoneInfo,
    params: Mapping[str, Any] | None = None,
    definition: Mapping[str, Any] | None = None,
) -> list[ValueCount]:
    """The distribution `code` would have on local day `today` with new `params` (a computed
    tag: they replace its parameters) or a new `definition` (a rule tag), nothing stored. A bad
    parameter or rule raises the InputError that saving it would raise."""
    info = taxonomy.get_tag(engine, code)
    rows: ir.Table | pa.Table
    if info.kind == "computed":
        if "params_from" in info.definition:
            raise InputError(
                f"tag {code!r} takes its parameters from {info.definition['params_from']!r}; "
                "preview them there"
            )
        model = str(info.model)
        checked = computed.parse_params(model, params or {})
        if model == computed.MEMBER_MODEL:
            member = member_model.parse_member(checked)
            member_model.member_field(info.output, member)
            at = member_model.as_of(today, utcnow(), tz)
            rows = member_model.member_values(
                member_tags(engine, at=at, tz=tz), info.output, member
            )
        else:
            rows = computed.FACT_MODELS[model].expression(source, checked, info.output, today=today)
    elif info.kind == "rule":
        return preview_rule_tag(source, definition or info.definition, today=today, info=info)
    else:
        raise InputError(f"tag {code!r} is imported: its values come from its imports")
    return ordered_counts(info, _counted(rows))


def preview_rule_tag(
    source: Source,
    definition: Mapping[str, Any],
    *,
    today: date,
    info: TagInfo | None = None,
) -> list[ValueCount]:
    """The values a rule tag's `definition` gives on local day `today` (a tag not saved yet
    too); a bad definition raises InputError naming its bad part."""
    rows = evaluate_rule_tag(source, definition, today=today)
    counted = _counted(rows)
    if info is not None:
        return ordered_counts(info, counted)
    total = sum(int(r["users"]) for r in counted)
    ordered = sorted(counted, key=lambda r: (-int(r["users"]), str(r["value"])))
    return [
        ValueCount(str(r["value"]), None, None, int(r["users"]), _share(int(r["users"]), total))
        for r in ordered
    ]

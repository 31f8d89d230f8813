"""Member tags (会员标签) as tag values of the built-in `membership` category.

Two sources, as in `userops.membership.tags` (docs/membership.md, "Member tags"):

- the growth system's own tables (application database): `loyalty`, `participation`,
  `participation_level` and the level in each scheme: `member_values` evaluates
  `membership.tags.member_tags` once per refresh and hands one field over as a table;
- the warehouse: `join_path` (channel / sub-source), `invites`, `invitees` and
  `self_propagation` (自传播能力): the `spread` model builds them as Ibis expressions with the
  same definitions, so a refresh over millions of users never loops in Python. Unlike
  `member_tags` it counts invitations up to the end of local day D and gives every known user
  their invitations (0 and `none` when they sent none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from userops.analytics.base import Source
from userops.analytics.filters import JsonField
from userops.errors import InputError
from userops.profiles.computed.base import Label, Model, Output, tag_rows
from userops.profiles.computed.facts import Need, instant
from userops.profiles.computed.params import ParamReader

LOYALTY: Final = (
    Label("new", "新会员", "New member"),
    Label("regular", "老会员", "Regular member"),
    Label("loyal", "忠实会员", "Loyal member"),
)
PARTICIPATION: Final = (
    Label("none", "未参与", "Never takes part"),
    Label("low", "偶尔参与", "Takes part now and then"),
    Label("high", "积极参与", "Takes part often"),
)
PROPAGATION: Final = (
    Label("none", "无传播", "Brings nobody"),
    Label("some", "有传播", "Brings a few"),
    Label("strong", "强传播", "Brings many"),
)
MEMBER_OUTPUTS: Final = {
    "loyalty": Output("loyalty", "enum", LOYALTY),
    "participation": Output("participation", "number"),
    "participation_level": Output("participation_level", "enum", PARTICIPATION),
    "level": Output("level", "enum"),
}
SPREAD_OUTPUTS: Final = {
    "join_path": Output("join_path", "enum"),
    "invites": Output("invites", "number"),
    "invitees": Output("invitees", "number"),
    "self_propagation": Output("self_propagation", "enum", PROPAGATION),
}


# -- the warehouse part: join path and self-propagation ---------------------------------------


@dataclass(frozen=True, slots=True)
class NoParams:
    pass


def _no_params(model: str) -> Any:
    def parse(raw: Mapping[str, Any] | None) -> NoParams:
        ParamReader(model, raw, ())
        return NoParams()

    return parse


def _dump(_: NoParams) -> dict[str, Any]:
    return {}


def _needs(_: NoParams) -> frozenset[Need]:
    return frozenset()


def _non_empty(value: ir.StringValue) -> ir.BooleanValue:
    return value.notnull() & (value != "")


def join_paths(source: Source, today: date) -> ir.Table:
    """user_id, value: `channel/sub-source` of each user who has either (null for the others)."""
    users = source.table("users")
    end = instant(source, today + timedelta(days=1))
    users = users.filter(users.created_at.isnull() | (users.created_at < end))
    detail = JsonField(users.traits, "register_source_detail", source.engine).string()
    # an engine inlines `detail` (the JSON read) wherever the path names it: name it twice
    channel, detail = users.channel.nullif(""), detail.nullif("")
    path = ibis.coalesce(channel.concat("/", detail), channel, detail)  # concat: null if either is
    # no filter on the path here: DuckDB would read the JSON again for it (a filter on a
    # computed column inlines its expression); the writer leaves null values out
    return users.select(**tag_rows(users.user_id, path))


INVITES: Final = Need("invites", None)
INVITEES: Final = Need("invitees", None)


def _spread_needs(_: NoParams) -> frozenset[Need]:
    return frozenset({INVITES, INVITEES})


def build_spread(
    facts: ir.Table, p: NoParams, output: str, source: Source, today: date
) -> ir.Table:
    if output == "join_path":
        return join_paths(source, today)
    invites, invitees = facts[INVITES.column], facts[INVITEES.column]
    if output == "self_propagation":
        level = ibis.cases((invitees >= 3, "strong"), (invitees >= 1, "some"), else_="none")
        return facts.select(**tag_rows(facts.user_id, level))
    count = invites if output == "invites" else invitees
    return facts.select(**tag_rows(facts.user_id, count, count))


SPREAD: Final = Model(
    name="spread",
    title="入会路径与自传播",
    title_en="Join path and self-propagation",
    parse=_no_params("spread"),
    dump=_dump,
    needs=_spread_needs,
    build=build_spread,
    outputs=dict(SPREAD_OUTPUTS),
)


# -- the application database part: loyalty, participation, levels ---------------------------


@dataclass(frozen=True, slots=True)
class MemberParams:
    scheme: str | None = None  # the level scheme (output `level` only)


def parse_member(raw: Mapping[str, Any] | None) -> MemberParams:
    p = ParamReader("member", raw, ("scheme",))
    scheme = p.raw.get("scheme")
    if scheme is not None and (not isinstance(scheme, str) or not scheme.strip()):
        raise p.error("scheme", f"{scheme!r} is not a level scheme code")
    return MemberParams(scheme=scheme)


def dump_member(p: MemberParams) -> dict[str, Any]:
    return {"scheme": p.scheme} if p.scheme is not None else {}


def member_field(output: str, params: MemberParams) -> str:
    """The key of `member_tags` rows that holds this output."""
    if output not in MEMBER_OUTPUTS:
        raise InputError(f"member tags have no output {output!r}")
    if output == "level":
        if params.scheme is None:
            raise InputError("member parameter 'scheme': a level tag names its level scheme")
        return f"level_{params.scheme}"
    return output


def member_values(rows: Sequence[Mapping[str, Any]], output: str, params: MemberParams) -> pa.Table:
    """One field of `member_tags` rows as tag values: users without a value are left out."""
    key = member_field(output, params)
    numeric = MEMBER_OUTPUTS[output].value_type == "number"
    users, values, numbers = [], [], []
    for row in rows:
        value = row.get(key)
        if value is None:
            continue
        users.append(str(row["user_id"]))
        values.append(str(value))
        numbers.append(float(value) if numeric else None)
    return pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "value": pa.array(values, pa.string()),
            "number": pa.array(numbers, pa.float64()),
        }
    )


def as_of(today: date, now: datetime, tz: Any) -> datetime:
    """The instant member tags are computed at for local day `today`: now when `today` is the
    current local day, else the last microsecond of `today`."""
    if now.astimezone(tz).date() == today:
        return now
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return end - timedelta(microseconds=1)

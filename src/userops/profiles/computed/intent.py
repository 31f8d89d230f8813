"""Intent level by acquisition channel (渠道意向): strong 强意向, medium 有意向, weak 弱意向.

docs/models.md, "Intent level", is the definition: the user's `users.channel` looked up in the
operator's `mapping` (channel -> level, exact text); a channel missing from it, and a user
without a channel, get `default`. The defaults follow the sources: paid search, feed ads and
offline stores are strong intent; social, self-media and referral are intent (medium); an
unknown source is weak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.profiles.computed.base import Label, Model, Output, tag_rows
from userops.profiles.computed.facts import Need
from userops.profiles.computed.params import ParamReader

LEVELS: Final = (
    Label("strong", "强意向", "Strong intent"),
    Label("medium", "有意向", "Medium intent"),
    Label("weak", "弱意向", "Weak intent"),
)
LEVEL_CODES: Final = tuple(level.code for level in LEVELS)
FIELDS: Final = ("mapping", "default")
MAX_CHANNELS: Final = 500
DEFAULT_MAPPING: Final = {
    "paid_search": "strong",
    "feed_ads": "strong",
    "offline_store": "strong",
    "social": "medium",
    "self_media": "medium",
    "referral": "medium",
    "unknown": "weak",
}


@dataclass(frozen=True, slots=True)
class IntentParams:
    mapping: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MAPPING))
    default: str = "weak"


def parse(raw: Mapping[str, Any] | None) -> IntentParams:
    p = ParamReader("intent", raw, FIELDS)
    mapping = p.raw.get("mapping", DEFAULT_MAPPING)
    if not isinstance(mapping, Mapping):
        raise p.error("mapping", "must be an object of channel -> strong, medium or weak")
    if len(mapping) > MAX_CHANNELS:
        raise p.error("mapping", f"{len(mapping)} channels, at most {MAX_CHANNELS}")
    checked: dict[str, str] = {}
    for channel, level in mapping.items():
        if not isinstance(channel, str) or not channel.strip() or len(channel) > 200:
            raise p.error("mapping", f"channel {channel!r} must be 1-200 characters")
        if level not in LEVEL_CODES:
            raise p.error(
                "mapping", f"channel {channel!r}: {level!r} is not strong, medium or weak"
            )
        checked[channel] = str(level)
    return IntentParams(
        mapping=dict(sorted(checked.items())),
        default=p.choice("default", "weak", LEVEL_CODES),
    )


def dump(p: IntentParams) -> dict[str, Any]:
    return {"mapping": dict(p.mapping), "default": p.default}


def needs(p: IntentParams) -> frozenset[Need]:
    return frozenset()


def build(facts: ir.Table, p: IntentParams, output: str, source: Source, today: date) -> ir.Table:
    channel = facts.channel
    if p.mapping:
        level = ibis.cases(
            *[(channel == name, code) for name, code in p.mapping.items()], else_=p.default
        )
    else:
        level = ibis.literal(p.default)
    return facts.select(**tag_rows(facts.user_id, level))


MODEL: Final = Model(
    name="intent",
    title="渠道意向",
    title_en="Intent by channel",
    parse=parse,
    dump=dump,
    needs=needs,
    build=build,
    outputs={"value": Output("value", "enum", LEVELS)},
)

"""The tag taxonomy (标签体系): first-level categories, sub-categories and tags.

A tag has a code (a slug, the key of its values in the warehouse), names in Chinese and English,
a description, an owner, a value type (boolean, enum, number, date), a kind (computed, rule,
imported), a definition by kind, and a refresh schedule (daily or manual). Built-in categories
(basic attributes, behaviour, value, lifecycle, membership, channel) and the built-in computed
tags (RFM, lifecycle stage, value grade, intent, activity, member tags) are seeded by
`userops init` (`seed_builtins`, idempotent: it adds what is missing and never touches what an
operator changed). Operators change a built-in tag's parameters, names and schedule, and may
switch it off, but not delete it. docs/profiles.md describes the taxonomy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from userops.domain.audience import (
    BooleanRuleTag,
    located_tag_rules,
    parse_rule_tag,
)
from userops.errors import ConflictError, InputError, NotFoundError
from userops.profiles import computed, references
from userops.store.audit import ACTOR_SYSTEM, append_audit
from userops.store.db import make_engine, session_scope
from userops.store.models import (
    REFRESH_SCHEDULES,
    TAG_KINDS,
    TAG_VALUE_TYPES,
    Level,
    LevelScheme,
    TagCategory,
    TagDefinition,
)
from userops.store.types import utcnow

SLUG: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
NAME_LENGTH: Final = 200
_UNSET: Final[Any] = object()


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    code: str
    name: str
    name_en: str | None
    parent: str | None
    position: int
    builtin: bool
    tags: int  # tags directly in it

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "parent": self.parent,
            "position": self.position,
            "builtin": self.builtin,
            "tags": self.tags,
        }


@dataclass(frozen=True, slots=True)
class TagInfo:
    code: str
    name: str
    name_en: str | None
    description: str | None
    description_en: str | None
    owner: str | None
    category: str
    value_type: str
    kind: str
    definition: dict[str, Any]
    schedule: str
    is_active: bool
    builtin: bool
    refreshed_at: datetime | None
    tagged_users: int | None
    labels: tuple[computed.Label, ...] = field(default=())

    @property
    def model(self) -> str | None:
        return self.definition.get("model") if self.kind == "computed" else None

    @property
    def output(self) -> str:
        return str(self.definition.get("output", "value"))

    def label(self, value: str) -> computed.Label | None:
        return next((lb for lb in self.labels if lb.code == value), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "description": self.description,
            "description_en": self.description_en,
            "owner": self.owner,
            "category": self.category,
            "value_type": self.value_type,
            "kind": self.kind,
            "definition": self.definition,
            "schedule": self.schedule,
            "is_active": self.is_active,
            "builtin": self.builtin,
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "tagged_users": self.tagged_users,
            "values": [lb.as_json() for lb in self.labels],
        }


# -- checks ----------------------------------------------------------------------------------


def check_code(code: Any, what: str = "tag") -> str:
    if not isinstance(code, str) or not SLUG.match(code):
        raise InputError(
            f"{what} code {code!r} must be a slug: a lowercase letter, then lowercase letters, "
            "digits or _ (at most 64 characters)"
        )
    return code


def _name(value: Any, field_name: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"the {field_name} must not be empty")
    if len(value) > NAME_LENGTH:
        raise InputError(f"the {field_name} is longer than {NAME_LENGTH} characters")
    return value.strip()


def _text(value: Any, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"the {field_name} must be text")
    return value.strip() or None


def _choice(value: Any, field_name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"{field_name} {value!r} is not one of {', '.join(choices)}")
    return str(value)


# -- reading ---------------------------------------------------------------------------------


def _category_row(session: Session, code: str) -> TagCategory:
    row = session.scalar(select(TagCategory).where(TagCategory.code == code))
    if row is None:
        raise NotFoundError(f"no tag category {code!r}")
    return row


def _tag_row(session: Session, code: str) -> TagDefinition:
    row = session.scalar(select(TagDefinition).where(TagDefinition.code == code))
    if row is None:
        raise NotFoundError(f"no tag {code!r}")
    return row


def _labels(row: TagDefinition) -> tuple[computed.Label, ...]:
    if row.kind == "computed":
        definition = row.definition or {}
        model = definition.get("model")
        output = str(definition.get("output", "value"))
        if model == computed.MEMBER_MODEL and output == "level":
            return _level_labels(row, definition)
        if model in computed.MODEL_NAMES:
            return computed.labels(str(model), output)
    values = (row.definition or {}).get("values")
    if isinstance(values, list):  # rule and imported tags may list their values
        out = []
        for v in values:
            if isinstance(v, Mapping) and isinstance(v.get("code"), str):
                code = v["code"]
                out.append(
                    computed.Label(code, str(v.get("name", code)), str(v.get("name_en", code)))
                )
            elif isinstance(v, str):
                out.append(computed.Label(v, v, v))
        return tuple(out)
    return ()


def allowed_codes(row: TagDefinition) -> list[str] | None:
    """The values a rule or imported tag may take, when its definition lists them."""
    return [lb.code for lb in _labels(row)] or None


def _level_labels(row: TagDefinition, definition: Mapping[str, Any]) -> tuple[computed.Label, ...]:
    """A member level tag's values are its scheme's level codes: named as the scheme names
    its levels (黄金会员 for `gold`), in rank order."""
    session = object_session(row)
    scheme = (definition.get("params") or {}).get("scheme")
    if session is None or not isinstance(scheme, str):
        return ()
    levels = session.execute(
        select(Level.code, Level.name)
        .join(LevelScheme, Level.scheme_id == LevelScheme.id)
        .where(LevelScheme.code == scheme)
        .order_by(Level.rank)
    )
    return tuple(computed.Label(code, name, name) for code, name in levels)


def _tag_info(row: TagDefinition, categories: Mapping[int, str]) -> TagInfo:
    return TagInfo(
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        description=row.description,
        description_en=row.description_en,
        owner=row.owner,
        category=categories[row.category_id],
        value_type=row.value_type,
        kind=row.kind,
        definition=dict(row.definition or {}),
        schedule=row.schedule,
        is_active=row.is_active,
        builtin=row.builtin,
        refreshed_at=row.refreshed_at,
        tagged_users=row.tagged_users,
        labels=_labels(row),
    )


def _category_codes(session: Session) -> dict[int, str]:
    return {int(i): str(c) for i, c in session.execute(select(TagCategory.id, TagCategory.code))}


def list_categories(engine: Engine) -> list[CategoryInfo]:
    """Every category, each first-level one followed by its sub-categories, by position."""
    with session_scope(engine, read_only=True) as session:
        rows = list(session.scalars(select(TagCategory)))
        counts: dict[int, int] = {}
        for category_id in session.scalars(select(TagDefinition.category_id)):
            counts[category_id] = counts.get(category_id, 0) + 1
    by_id = {r.id: r for r in rows}

    def key(r: TagCategory) -> tuple[int, str]:
        return (r.position, r.code)

    out: list[CategoryInfo] = []
    for top in sorted((r for r in rows if r.parent_id is None), key=key):
        for r in [top, *sorted((c for c in rows if c.parent_id == top.id), key=key)]:
            parent = by_id[r.parent_id].code if r.parent_id is not None else None
            out.append(
                CategoryInfo(
                    r.code, r.name, r.name_en, parent, r.position, r.builtin, counts.get(r.id, 0)
                )
            )
    return out


def list_tags(
    engine: Engine,
    *,
    category: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
) -> list[TagInfo]:
    """Tags by category position then code; `category` includes its sub-categories."""
    with session_scope(engine, read_only=True) as session:
        categories = {c.id: c for c in session.scalars(select(TagCategory))}
        query = select(TagDefinition)
        if category is not None:
            parent = _category_row(session, category)
            ids = {parent.id} | {c.id for c in categories.values() if c.parent_id == parent.id}
            query = query.where(TagDefinition.category_id.in_(ids))
        if kind is not None:
            query = query.where(TagDefinition.kind == _choice(kind, "kind", TAG_KINDS))
        if active is not None:
            query = query.where(TagDefinition.is_active.is_(active))
        rows = list(session.scalars(query))
    codes = {i: c.code for i, c in categories.items()}

    def order(row: TagDefinition) -> tuple[int, int, str]:
        cat = categories[row.category_id]
        top = categories[cat.parent_id] if cat.parent_id is not None else cat
        return (top.position, cat.position if cat is not top else -1, row.code)

    return [_tag_info(r, codes) for r in sorted(rows, key=order)]


def get_tag(engine: Engine, code: str) -> TagInfo:
    with session_scope(engine, read_only=True) as session:
        row = _tag_row(session, code)
        return _tag_info(row, _category_codes(session))


def tag_names(engine: Engine) -> dict[str, TagInfo]:
    return {t.code: t for t in list_tags(engine)}


def resolved_params(engine: Engine, code: str) -> dict[str, Any]:
    """The parameters a computed tag is evaluated with (following `params_from`)."""
    with session_scope(engine, read_only=True) as session:
        return resolve_params(session, _tag_row(session, code))


def resolve_params(session: Session, row: TagDefinition) -> dict[str, Any]:
    definition = row.definition or {}
    source = definition.get("params_from")
    if source is None:
        return dict(definition.get("params") or {})
    other = session.scalar(select(TagDefinition).where(TagDefinition.code == source))
    if other is None or other.kind != "computed":
        raise InputError(f"tag {row.code!r} takes its parameters from {source!r}, which is gone")
    if (other.definition or {}).get("model") != definition.get("model"):
        raise InputError(f"tag {row.code!r} takes its parameters from {source!r}, another model")
    return dict((other.definition or {}).get("params") or {})


# -- categories ------------------------------------------------------------------------------


def create_category(
    engine: Engine,
    *,
    code: str,
    name: str,
    name_en: str | None = None,
    parent: str | None = None,
    position: int | None = None,
    actor: str = ACTOR_SYSTEM,
) -> CategoryInfo:
    """A first-level category, or with `parent` a sub-category (two levels, no deeper)."""
    check_code(code, "category")
    label = _name(name, "category name")
    english = _name(name_en, "English name", required=False)
    with session_scope(engine) as session:
        if session.scalar(select(TagCategory.id).where(TagCategory.code == code)) is not None:
            raise ConflictError(f"tag category {code!r} already exists")
        parent_id = None
        if parent is not None:
            above = _category_row(session, parent)
            if above.parent_id is not None:
                raise InputError(
                    f"{parent!r} is a sub-category; sub-categories go under a first-level one"
                )
            parent_id = above.id
        if position is None:
            siblings = session.scalars(
                select(TagCategory.position).where(
                    TagCategory.parent_id.is_(None)
                    if parent_id is None
                    else TagCategory.parent_id == parent_id
                )
            ).all()
            position = max(siblings, default=-1) + 1
        row = TagCategory(
            code=code, name=label, name_en=english, parent_id=parent_id, position=position
        )
        session.add(row)
        session.flush()
        append_audit(session, actor=actor, action="tags.category.create", target=code)
        return CategoryInfo(code, row.name, row.name_en, parent, row.position, False, 0)


def update_category(
    engine: Engine,
    *,
    code: str,
    name: str | None = None,
    name_en: str | None = None,
    position: int | None = None,
    actor: str = ACTOR_SYSTEM,
) -> CategoryInfo:
    with session_scope(engine) as session:
        row = _category_row(session, code)
        if name is not None:
            row.name = _name(name, "category name") or row.name
        if name_en is not None:
            row.name_en = _name(name_en, "English name")
        if position is not None:
            row.position = position
        append_audit(session, actor=actor, action="tags.category.update", target=code)
    return next(c for c in list_categories(engine) if c.code == code)


def delete_category(engine: Engine, *, code: str, actor: str = ACTOR_SYSTEM) -> None:
    """Remove an empty category that an operator made (built-in ones stay)."""
    with session_scope(engine) as session:
        row = _category_row(session, code)
        if row.builtin:
            raise ConflictError(f"{code!r} is a built-in category; it cannot be removed")
        if session.scalar(select(TagCategory.id).where(TagCategory.parent_id == row.id)):
            raise ConflictError(f"category {code!r} has sub-categories; remove them first")
        if session.scalar(select(TagDefinition.id).where(TagDefinition.category_id == row.id)):
            raise ConflictError(f"category {code!r} still holds tags; move or remove them first")
        session.delete(row)
        append_audit(session, actor=actor, action="tags.category.delete", target=code)


# -- tags ------------------------------------------------------------------------------------


def _check_rule_references(session: Session, code: str, definition: Mapping[str, Any]) -> None:
    """A rule tag may name only tags and segments that exist, and must not read itself,
    directly or through other rule tags and segments (each refresh would flip it)."""
    rules = located_tag_rules(parse_rule_tag(definition))
    references.check_rules(session, ("tag", code), rules)


def _check_definition(kind: str, value_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "computed":
        checked = computed.check_definition(definition)
        expected = computed.value_type(checked["model"], checked["output"])
        if value_type != expected:
            raise InputError(
                f"model {checked['model']!r} output {checked['output']!r} gives {expected} "
                f"values, not {value_type}"
            )
        return checked
    if not isinstance(definition, Mapping):
        raise InputError("a tag's definition must be an object")
    if kind == "rule":  # docs/segments.md, "Rule tags": {"when": RULE} or {"cases": [...]}
        parsed = parse_rule_tag(definition)
        expected = "boolean" if isinstance(parsed, BooleanRuleTag) else "enum"
        if value_type != expected:
            raise InputError(f"this rule tag gives {expected} values, not {value_type}")
    if kind == "imported" and "values" in definition:
        _check_values(definition["values"])
    return dict(definition)


def _check_values(values: Any) -> None:
    """An imported tag's allowed values: codes, or {"code", "name", "name_en"} objects."""
    if not isinstance(values, list) or not values:
        raise InputError("definition.values: a list of the allowed values (codes or objects)")
    for i, v in enumerate(values):
        code = v.get("code") if isinstance(v, Mapping) else v
        if not isinstance(code, str) or not code.strip() or len(code) > NAME_LENGTH:
            raise InputError(
                f"definition.values[{i}]: a code of 1 to {NAME_LENGTH} characters, or an "
                'object {"code": ..., "name": ..., "name_en": ...}'
            )


def create_tag(
    engine: Engine,
    *,
    code: str,
    name: str,
    category: str,
    value_type: str,
    kind: str = "computed",
    definition: Mapping[str, Any] | None = None,
    name_en: str | None = None,
    description: str | None = None,
    description_en: str | None = None,
    owner: str | None = None,
    schedule: str = "daily",
    actor: str = ACTOR_SYSTEM,
) -> TagInfo:
    """A new tag, its definition checked by kind: computed (model, output, parameters), rule
    (the rule of docs/segments.md); an imported tag's definition may list its values."""
    check_code(code)
    label = _name(name, "tag name")
    english = _name(name_en, "English name", required=False)
    kind = _choice(kind, "kind", TAG_KINDS)
    value_type = _choice(value_type, "value type", TAG_VALUE_TYPES)
    schedule = _choice(schedule, "schedule", REFRESH_SCHEDULES)
    checked = _check_definition(kind, value_type, definition or {})
    with session_scope(engine) as session:
        if session.scalar(select(TagDefinition.id).where(TagDefinition.code == code)) is not None:
            raise ConflictError(f"tag {code!r} already exists")
        home = _category_row(session, category)
        row = TagDefinition(
            code=code,
            name=label,
            name_en=english,
            description=_text(description, "description"),
            description_en=_text(description_en, "English description"),
            owner=_text(owner, "owner"),
            category_id=home.id,
            value_type=value_type,
            kind=kind,
            definition=checked,
            schedule=schedule,
        )
        session.add(row)
        session.flush()
        if kind == "computed":
            resolve_params(session, row)  # params_from must name a tag of the same model
        if kind == "rule":
            _check_rule_references(session, code, checked)
        append_audit(session, actor=actor, action="tags.create", target=code)
        return _tag_info(row, _category_codes(session))


def update_tag(
    engine: Engine,
    *,
    code: str,
    name: str | None = None,
    name_en: Any = _UNSET,
    description: Any = _UNSET,
    description_en: Any = _UNSET,
    owner: Any = _UNSET,
    category: str | None = None,
    schedule: str | None = None,
    is_active: bool | None = None,
    actor: str = ACTOR_SYSTEM,
) -> TagInfo:
    """Change what describes a tag; None leaves a field as it is."""
    with session_scope(engine) as session:
        row = _tag_row(session, code)
        if name is not None:
            row.name = _name(name, "tag name") or row.name
        if name_en is not _UNSET:
            row.name_en = _name(name_en, "English name", required=False)
        if description is not _UNSET:
            row.description = _text(description, "description")
        if description_en is not _UNSET:
            row.description_en = _text(description_en, "English description")
        if owner is not _UNSET:
            row.owner = _text(owner, "owner")
        if category is not None:
            row.category_id = _category_row(session, category).id
        if schedule is not None:
            row.schedule = _choice(schedule, "schedule", REFRESH_SCHEDULES)
        if is_active is not None:
            row.is_active = bool(is_active)
        row.updated_at = utcnow()
        append_audit(session, actor=actor, action="tags.update", target=code)
        return _tag_info(row, _category_codes(session))


def set_params(
    engine: Engine,
    *,
    code: str,
    params: Mapping[str, Any],
    replace: bool = False,
    actor: str = ACTOR_SYSTEM,
) -> TagInfo:
    """Change a computed tag's parameters: merged into the current ones (or, with `replace`,
    instead of them), checked as a whole; nothing is stored when one is wrong."""
    if not isinstance(params, Mapping):
        raise InputError("the parameters must be an object")
    with session_scope(engine) as session:
        row = _tag_row(session, code)
        definition = dict(row.definition or {})
        if row.kind != "computed":
            raise InputError(
                f"tag {code!r} is a {row.kind} tag; only computed tags have parameters"
            )
        source = definition.get("params_from")
        if source is not None:
            raise InputError(f"tag {code!r} takes its parameters from {source!r}; set them there")
        merged = dict(params) if replace else {**(definition.get("params") or {}), **params}
        definition["params"] = computed.parse_params(str(definition["model"]), merged)
        row.definition = definition
        row.updated_at = utcnow()
        append_audit(
            session,
            actor=actor,
            action="tags.params",
            target=code,
            detail={"params": definition["params"]},
        )
        return _tag_info(row, _category_codes(session))


def set_rule(
    engine: Engine, *, code: str, definition: Mapping[str, Any], actor: str = ACTOR_SYSTEM
) -> TagInfo:
    """Change a rule tag's rule: checked whole, as when it was made; nothing is stored when a
    part is wrong. A boolean tag (`when`) stays boolean and an enum tag (`cases`) stays an
    enum, so its stored values and history keep their meaning; the next refresh recomputes it
    (its fingerprint holds the definition)."""
    with session_scope(engine) as session:
        row = _tag_row(session, code)
        if row.kind != "rule":
            raise InputError(f"tag {code!r} is a {row.kind} tag; only rule tags have a rule")
        checked = _check_definition("rule", row.value_type, definition)
        _check_rule_references(session, code, checked)
        row.definition = checked
        row.updated_at = utcnow()
        append_audit(
            session, actor=actor, action="tags.rule", target=code, detail={"definition": checked}
        )
        return _tag_info(row, _category_codes(session))


def delete_tag(engine: Engine, *, code: str, actor: str = ACTOR_SYSTEM) -> None:
    """Remove a tag an operator made (its warehouse values go with `tagvalues.drop_tag`)."""
    with session_scope(engine) as session:
        row = _tag_row(session, code)
        if row.builtin:
            raise ConflictError(f"{code!r} is a built-in tag; switch it off instead")
        others = session.scalars(select(TagDefinition).where(TagDefinition.kind == "computed"))
        for other in others:
            if other.code != code and (other.definition or {}).get("params_from") == code:
                raise ConflictError(f"tag {other.code!r} takes its parameters from {code!r}")
        references.refuse_readers(session, ("tag", code))
        session.delete(row)
        append_audit(session, actor=actor, action="tags.delete", target=code)


# -- built-ins -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Category:
    code: str
    name: str
    name_en: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class _Tag:
    code: str
    name: str
    name_en: str
    category: str
    model: str
    output: str
    description: str
    description_en: str
    params_from: str | None = None


BUILTIN_CATEGORIES: Final = (
    _Category("basic", "基础属性", "Basic attributes"),
    _Category("behaviour", "行为", "Behaviour"),
    _Category("value", "价值", "Value"),
    _Category("rfm", "RFM 模型", "RFM model", "value"),
    _Category("grade", "价值分级", "Value grade", "value"),
    _Category("lifecycle", "生命周期", "Lifecycle"),
    _Category("membership", "会员", "Membership"),
    _Category("channel", "渠道", "Channel"),
)

BUILTIN_TAGS: Final = (
    _Tag(
        "rfm_group", "RFM 分群", "RFM group", "rfm", "rfm", "group",
        "回看期内下单用户的八类经典 RFM 分群(重要价值 …… 一般挽留)。",
        "The eight classic RFM groups (重要价值 ... 一般挽留) of buyers in the lookback window.",
    ),
    _Tag(
        "rfm_r", "R 分 (最近消费)", "R score (recency)", "rfm", "rfm", "r",
        "最近一次下单的 R 分 1-5(5 = 最近)。",
        "Recency score 1-5 of the last order (5 = most recent).", "rfm_group",
    ),
    _Tag(
        "rfm_f", "F 分 (消费频率)", "F score (frequency)", "rfm", "rfm", "f",
        "F 分 1-5:回看期内的订单数。",
        "Frequency score 1-5: orders in the lookback window.", "rfm_group",
    ),
    _Tag(
        "rfm_m", "M 分 (消费金额)", "M score (monetary)", "rfm", "rfm", "m",
        "M 分 1-5:回看期内的消费金额。",
        "Monetary score 1-5: revenue in the lookback window.", "rfm_group",
    ),
    _Tag(
        "value_grade", "价值等级", "Value grade", "grade", "grade", "value",
        "按回看期内的消费金额(或其他分值)划分的 S/A/B/C/D 价值金字塔。",
        "Pyramid S/A/B/C/D on revenue (or another score) in the lookback window.",
    ),
    _Tag(
        "lifecycle_stage", "生命周期阶段", "Lifecycle stage", "lifecycle", "lifecycle", "value",
        "引入期、成长期、成熟期、休眠期或流失期。",
        "Introduction, growth, maturity, dormancy or churn.",
    ),
    _Tag(
        "activity_level", "活跃度", "Activity level", "behaviour", "activity", "value",
        "按近 30 天的活跃天数分为高活跃、中活跃、低活跃或沉默。",
        "High, medium, low or silent, by active days in the last 30 days.",
    ),
    _Tag(
        "intent_level", "渠道意向", "Intent by channel", "channel", "intent", "value",
        "按获客渠道分为强意向、有意向或弱意向。",
        "Strong, medium or weak intent, by acquisition channel.",
    ),
    _Tag(
        "member_join_path", "入会路径", "Join path", "membership", "spread", "join_path",
        "用户加入时的获客渠道与子来源。",
        "Acquisition channel and sub-source the user joined through.",
    ),
    _Tag(
        "member_invites", "邀请次数", "Invitations sent", "membership", "spread", "invites",
        "用户发出的邀请次数。",
        "Invite events the user sent.",
    ),
    _Tag(
        "member_invitees", "邀请成功人数", "Users brought in", "membership", "spread",
        "invitees", "通过该用户的邀请加入的用户数(去重)。",
        "Distinct users who joined through the user's invitations.",
    ),
    _Tag(
        "member_self_propagation", "自传播能力", "Self-propagation", "membership", "spread",
        "self_propagation", "无传播、有传播(带来 1-2 人)或强传播(3 人及以上)。",
        "None, some (1-2 users brought in) or strong (3 or more).",
    ),
    _Tag(
        "member_loyalty", "会员忠诚度", "Member loyalty", "membership", "member", "loyalty",
        "按首次获得积分至今的时长分为新会员(不足 90 天)、老会员(不足一年)或忠实会员。",
        "New (under 90 days), regular (under a year) or loyal, from the first points earned.",
    ),
    _Tag(
        "member_participation", "活动参与次数", "Activities taken part in", "membership",
        "member", "participation", "近 90 天触发过的不同激励规则数。",
        "Distinct incentive rules triggered in the last 90 days.",
    ),
    _Tag(
        "member_participation_level", "活动参与度", "Participation", "membership", "member",
        "participation_level", "未参与、偶尔参与(1-2 个活动)或积极参与(3 个及以上)。",
        "None, low (1-2 activities) or high (3 or more).",
    ),
)  # fmt: skip


def _seed_category(session: Session, spec: _Category, position: int) -> bool:
    if session.scalar(select(TagCategory.id).where(TagCategory.code == spec.code)) is not None:
        return False
    parent_id = _category_row(session, spec.parent).id if spec.parent else None
    session.add(
        TagCategory(
            code=spec.code,
            name=spec.name,
            name_en=spec.name_en,
            parent_id=parent_id,
            position=position,
            builtin=True,
        )
    )
    session.flush()
    return True


def _seed_tag(session: Session, spec: _Tag, params: Mapping[str, Any] | None = None) -> bool:
    if session.scalar(select(TagDefinition.id).where(TagDefinition.code == spec.code)):
        return False
    definition: dict[str, Any] = {"model": spec.model, "output": spec.output}
    if spec.params_from:
        definition["params_from"] = spec.params_from
    else:
        definition["params"] = computed.parse_params(spec.model, params)
    session.add(
        TagDefinition(
            code=spec.code,
            name=spec.name,
            name_en=spec.name_en,
            description=spec.description,
            description_en=spec.description_en,
            owner="userops",
            category_id=_category_row(session, spec.category).id,
            value_type=computed.value_type(spec.model, spec.output),
            kind="computed",
            definition=definition,
            schedule="daily",
            builtin=True,
        )
    )
    session.flush()
    return True


def seed_builtins(engine: Engine) -> dict[str, int]:
    """Add the built-in categories and tags that are missing; safe to run any number of times,
    also by processes starting together (the one that loses the race finds them made)."""
    for attempt in range(2):
        try:
            with session_scope(engine) as session:
                categories = sum(
                    _seed_category(session, spec, i) for i, spec in enumerate(BUILTIN_CATEGORIES)
                )
                tags = sum(_seed_tag(session, spec) for spec in BUILTIN_TAGS)
            break
        except IntegrityError:
            if attempt:
                raise
    levels = sync_level_tags(engine)
    return {"categories": categories, "tags": tags + levels}


def level_tag_code(scheme: str) -> str | None:
    code = f"member_level_{scheme}"
    return code if SLUG.match(code) else None


def sync_level_tags(engine: Engine) -> int:
    """One built-in tag per active level scheme (会员等级): the user's level in it."""
    made = 0
    with session_scope(engine) as session:
        if session.scalar(select(TagCategory.id).where(TagCategory.code == "membership")) is None:
            return 0
        schemes = session.execute(
            select(LevelScheme.code, LevelScheme.name).where(LevelScheme.is_active.is_(True))
        ).all()
        for scheme, scheme_name in schemes:
            code = level_tag_code(scheme)
            if code is None:
                continue
            spec = _Tag(
                code,
                scheme_name if "等级" in scheme_name else f"会员等级: {scheme_name}",
                f"Member level: {scheme_name}",
                "membership",
                "member",
                "level",
                f"用户在等级体系 {scheme!r} 中的会员等级。",
                f"The user's level in the level scheme {scheme!r}.",
            )
            made += _seed_tag(session, spec, {"scheme": scheme})
    return made


def seed_database(url: str) -> dict[str, int]:
    """`seed_builtins` on the (migrated) application database at `url` (`userops init`)."""
    engine = make_engine(url)
    try:
        return seed_builtins(engine)
    finally:
        engine.dispose()

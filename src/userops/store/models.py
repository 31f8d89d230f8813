"""Tables of the application database, as SQLAlchemy 2 typed declarative models.

Only portable types are used (integers, strings, JSON, `UTCDateTime`), so one set of models and
one chain of migrations serve SQLite and PostgreSQL. Constraint names follow a fixed convention so
later migrations can name what they alter on both backends.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Final, Literal, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column

from userops.store.types import UTCDateTime, utcnow

Role = Literal["admin", "operator", "analyst", "viewer"]
ImportKind = Literal["events", "users", "items", "costs"]
ImportStatus = Literal["running", "succeeded", "failed"]

ROLES: Final[tuple[str, ...]] = get_args(Role)
IMPORT_KINDS: Final[tuple[str, ...]] = get_args(ImportKind)
IMPORT_STATUSES: Final[tuple[str, ...]] = get_args(ImportStatus)

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Operator(Base):
    """A person who signs in to the console; usernames are stored lowercase to be unique
    regardless of case."""

    __tablename__ = "operators"
    __table_args__ = (
        CheckConstraint(_one_of("role", ROLES), name="role"),
        CheckConstraint("username = lower(username)", name="username_lowercase"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(16))


class ApiKey(Base):
    """A write key for event ingestion; only its sha256 is kept, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(8), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One line of the append-only audit log: who did what to which object, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImportRun(Base):
    """One run of a file import: what it read, what it kept, what it set aside, how it ended."""

    __tablename__ = "import_runs"
    __table_args__ = (
        CheckConstraint(_one_of("kind", IMPORT_KINDS), name="kind"),
        CheckConstraint(_one_of("status", IMPORT_STATUSES), name="status"),
        CheckConstraint(
            "accepted >= 0 AND rejected >= 0 AND duplicates >= 0", name="counts_not_negative"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    quarantine_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text)


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a row of an append-only table."""


def _refuse_change(_mapper: Mapper[Any], _connection: Any, target: AuditEntry) -> None:
    raise AppendOnlyError(f"audit_log is append-only; entry {target.id} cannot change")


event.listen(AuditEntry, "before_update", _refuse_change)
event.listen(AuditEntry, "before_delete", _refuse_change)


# Membership and growth system (userops.membership; docs/membership.md) ------------------------

LedgerKind = Literal["earn", "spend", "expire", "adjust", "reverse"]
GrowthKind = Literal["earn", "adjust", "reverse"]
LevelPolicyName = Literal["only_up", "up_down"]
LevelChangeKind = Literal[
    "upgrade", "downgrade", "notice", "keep_started", "keep_cleared", "assigned", "unassigned"
]
BenefitKindName = Literal[
    "percent_discount",
    "free_shipping",
    "birthday_gift",
    "monthly_coupons",
    "priority_service",
    "points_multiplier",
]
QuotaPeriodName = Literal["day", "week", "month", "year", "lifetime"]
AwardMode = Literal["none", "fixed", "per_amount"]
CapPeriodName = Literal["week", "month", "year"]
CounterWindow = Literal["day", "period", "life"]
BadgeKindName = Literal["event_count", "streak", "top_rank"]
BoardMetricName = Literal["points_earned", "growth_earned", "event_count", "revenue"]
BoardPeriodName = Literal["day", "week", "month", "year"]

LEDGER_KINDS: Final[tuple[str, ...]] = get_args(LedgerKind)
GROWTH_KINDS: Final[tuple[str, ...]] = get_args(GrowthKind)
LEVEL_POLICIES: Final[tuple[str, ...]] = get_args(LevelPolicyName)
LEVEL_CHANGE_KINDS: Final[tuple[str, ...]] = get_args(LevelChangeKind)
BENEFIT_KIND_NAMES: Final[tuple[str, ...]] = get_args(BenefitKindName)
QUOTA_PERIOD_NAMES: Final[tuple[str, ...]] = get_args(QuotaPeriodName)
AWARD_MODES: Final[tuple[str, ...]] = get_args(AwardMode)
CAP_PERIOD_NAMES: Final[tuple[str, ...]] = get_args(CapPeriodName)
COUNTER_WINDOWS: Final[tuple[str, ...]] = get_args(CounterWindow)
BADGE_KIND_NAMES: Final[tuple[str, ...]] = get_args(BadgeKindName)
BOARD_METRIC_NAMES: Final[tuple[str, ...]] = get_args(BoardMetricName)
BOARD_PERIOD_NAMES: Final[tuple[str, ...]] = get_args(BoardPeriodName)

USER_ID_LENGTH: Final = 256
KEY_LENGTH: Final = 300
_Points = BigInteger()


class PointsAccount(Base):
    """One row per user holding points: the row writers lock (SELECT ... FOR UPDATE) before
    they touch the user's lots, and a cache of the ledger's sum kept in the same transaction."""

    __tablename__ = "points_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), primary_key=True)
    balance: Mapped[int] = mapped_column(_Points, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsEntry(Base):
    """One line of the append-only points ledger. `amount` is signed (credits positive);
    `effective_at` is when it counts (an earn: the event's time; an expiry: the lot's expiry
    time), `recorded_at` when it was written. A pending earn (and a reversal of one) carries
    `matures_at`."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        CheckConstraint(_one_of("kind", LEDGER_KINDS), name="kind"),
        CheckConstraint("amount <> 0 OR kind = 'reverse'", name="amount_not_zero"),
        CheckConstraint(
            "(kind <> 'earn' OR amount > 0) AND (kind NOT IN ('spend', 'expire') OR amount < 0)",
            name="signs",
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(_Points)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    op_key: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    effective_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    matures_at: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("incentive_rules.id"), index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("points_ledger.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64), default="system")
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PointsLot(Base):
    """What is left of one credit (an earn or a positive adjustment), keyed by its entry.

    Mutable working state beside the ledger: `amount = remaining + spent + expired + reversed`
    always (docs/membership.md, "Lots")."""

    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint(
            "remaining >= 0 AND spent >= 0 AND expired >= 0 AND reversed >= 0 "
            "AND expired_covered >= 0 AND clawed >= 0 AND owed >= 0",
            name="counters_not_negative",
        ),
        CheckConstraint("amount = remaining + spent + expired + reversed", name="balanced"),
    )

    entry_id: Mapped[int] = mapped_column(
        _BigId, ForeignKey("points_ledger.id"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    amount: Mapped[int] = mapped_column(_Points)
    remaining: Mapped[int] = mapped_column(_Points)
    spent: Mapped[int] = mapped_column(_Points, default=0)
    expired: Mapped[int] = mapped_column(_Points, default=0)
    reversed: Mapped[int] = mapped_column(_Points, default=0)
    expired_covered: Mapped[int] = mapped_column(_Points, default=0)
    clawed: Mapped[int] = mapped_column(_Points, default=0)
    owed: Mapped[int] = mapped_column(_Points, default=0)
    matures_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class PointsAllocation(Base):
    """Points one ledger entry moved out of (positive) or back into (negative) one lot."""

    __tablename__ = "points_allocations"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("points_ledger.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("points_lots.entry_id"), index=True)
    amount: Mapped[int] = mapped_column(_Points)


class GrowthEntry(Base):
    """One line of the append-only growth value ledger (成长值). A reversal carries the
    `effective_at` of what it reverses, so windows ("the last 12 months") stay consistent."""

    __tablename__ = "growth_ledger"
    __table_args__ = (CheckConstraint(_one_of("kind", GROWTH_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(_Points)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    effective_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("incentive_rules.id"), index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("growth_ledger.id"))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    reason: Mapped[str | None] = mapped_column(Text)


Index("ix_growth_ledger_user_id_effective_at", GrowthEntry.user_id, GrowthEntry.effective_at)


class LevelScheme(Base):
    """A ladder of levels and the policy that moves users on it."""

    __tablename__ = "level_schemes"
    __table_args__ = (
        CheckConstraint(_one_of("policy", LEVEL_POLICIES), name="policy"),
        CheckConstraint("keep_days >= 0 AND notice_days >= 0", name="periods_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    policy: Mapped[str] = mapped_column(String(16))
    window_months: Mapped[int | None]
    keep_days: Mapped[int] = mapped_column(default=0)
    notice_days: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Level(Base):
    __tablename__ = "levels"
    __table_args__ = (
        UniqueConstraint("scheme_id", "code"),
        UniqueConstraint("scheme_id", "rank"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("level_schemes.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int]
    threshold: Mapped[int] = mapped_column(_Points)
    invite_only: Mapped[bool] = mapped_column(default=False)


class MemberLevel(Base):
    """Where a user stands in a scheme now (the last evaluation's state)."""

    __tablename__ = "member_levels"

    scheme_id: Mapped[int] = mapped_column(ForeignKey("level_schemes.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), primary_key=True)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"))
    since: Mapped[date | None]
    growth: Mapped[int] = mapped_column(_Points, default=0)
    below_since: Mapped[date | None]
    downgrade_on: Mapped[date | None]
    notice_sent: Mapped[bool] = mapped_column(default=False)
    assigned: Mapped[bool] = mapped_column(default=False)
    assigned_until: Mapped[date | None]
    evaluated_on: Mapped[date | None]


class LevelHistory(Base):
    """Every level step of every user, appended; `published_at` is set once the matching
    event is in the warehouse."""

    __tablename__ = "level_history"
    __table_args__ = (CheckConstraint(_one_of("kind", LEVEL_CHANGE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("level_schemes.id"))
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    from_level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"))
    to_level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"))
    on_day: Mapped[date] = mapped_column(index=True)
    growth: Mapped[int] = mapped_column(_Points, default=0)
    downgrade_on: Mapped[date | None]
    actor: Mapped[str] = mapped_column(String(64), default="system")
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)


Index(
    "ix_level_history_scheme_id_user_id_on_day",
    LevelHistory.scheme_id,
    LevelHistory.user_id,
    LevelHistory.on_day,
)


class Benefit(Base):
    """An entry of the benefits catalogue (权益)."""

    __tablename__ = "benefits"
    __table_args__ = (CheckConstraint(_one_of("kind", BENEFIT_KIND_NAMES), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)


class LevelBenefit(Base):
    """A benefit as one level grants it: its value and, for consumable ones, a quota."""

    __tablename__ = "level_benefits"
    __table_args__ = (
        CheckConstraint(
            "quota IS NULL OR (quota >= 0 AND " + _one_of("quota_period", QUOTA_PERIOD_NAMES) + ")",
            name="quota",
        ),
    )

    level_id: Mapped[int] = mapped_column(
        ForeignKey("levels.id", ondelete="CASCADE"), primary_key=True
    )
    benefit_id: Mapped[int] = mapped_column(
        ForeignKey("benefits.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[int] = mapped_column(_Points, default=0)
    quota: Mapped[int | None]
    quota_period: Mapped[str | None] = mapped_column(String(16))


class BenefitUse(Base):
    """One use of a benefit with a quota (a free shipping, a monthly coupon), appended."""

    __tablename__ = "benefit_usage"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH))
    benefit_id: Mapped[int] = mapped_column(ForeignKey("benefits.id"))
    level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"))
    used_at: Mapped[datetime]
    quantity: Mapped[int] = mapped_column(default=1)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64), default="system")


Index(
    "ix_benefit_usage_user_id_benefit_id_used_at",
    BenefitUse.user_id,
    BenefitUse.benefit_id,
    BenefitUse.used_at,
)


class IncentiveRule(Base):
    """When a user does `event` (passing `filters`), give points and/or growth value."""

    __tablename__ = "incentive_rules"
    __table_args__ = (
        CheckConstraint(_one_of("points_mode", AWARD_MODES), name="points_mode"),
        CheckConstraint(_one_of("growth_mode", AWARD_MODES), name="growth_mode"),
        CheckConstraint(_one_of("cap_period", CAP_PERIOD_NAMES), name="cap_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(200))
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    points_mode: Mapped[str] = mapped_column(String(16), default="none")
    points_value: Mapped[int] = mapped_column(_Points, default=0)
    growth_mode: Mapped[str] = mapped_column(String(16), default="none")
    growth_value: Mapped[int] = mapped_column(_Points, default=0)
    unit_cents: Mapped[int] = mapped_column(default=100)
    use_multiplier: Mapped[bool] = mapped_column(default=False)
    multiplier_scheme_id: Mapped[int | None] = mapped_column(ForeignKey("level_schemes.id"))
    cap_period: Mapped[str] = mapped_column(String(8), default="month")
    points_cap_day: Mapped[int | None] = mapped_column(_Points)
    points_cap_period: Mapped[int | None] = mapped_column(_Points)
    points_cap_lifetime: Mapped[int | None] = mapped_column(_Points)
    growth_cap_day: Mapped[int | None] = mapped_column(_Points)
    growth_cap_period: Mapped[int | None] = mapped_column(_Points)
    growth_cap_lifetime: Mapped[int | None] = mapped_column(_Points)
    maturity_days: Mapped[int] = mapped_column(default=0)
    expiry: Mapped[str] = mapped_column(String(32), default="never")
    reference_property: Mapped[str | None] = mapped_column(String(200), default="order_id")
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleApplication(Base):
    """That a rule was applied to an event (once: unique per rule and message id), and what
    it gave; written in the same transaction as the points and growth value."""

    __tablename__ = "rule_applications"
    __table_args__ = (UniqueConstraint("rule_id", "message_id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("incentive_rules.id"))
    message_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH))
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    event_at: Mapped[datetime]
    points: Mapped[int] = mapped_column(_Points, default=0)
    growth: Mapped[int] = mapped_column(_Points, default=0)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncentiveCounter(Base):
    """What a capped rule gave a user in one local day, cap period, or lifetime."""

    __tablename__ = "incentive_counters"
    __table_args__ = (CheckConstraint(_one_of("span", COUNTER_WINDOWS), name="span"),)

    rule_id: Mapped[int] = mapped_column(ForeignKey("incentive_rules.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), primary_key=True)
    span: Mapped[str] = mapped_column(String(8), primary_key=True)
    start: Mapped[date] = mapped_column(primary_key=True)
    points: Mapped[int] = mapped_column(_Points, default=0)
    growth: Mapped[int] = mapped_column(_Points, default=0)


class Badge(Base):
    """An achievement rule (勋章); `tiers` is a list of {"threshold", "name"}."""

    __tablename__ = "badges"
    __table_args__ = (CheckConstraint(_one_of("kind", BADGE_KIND_NAMES), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(200))
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    leaderboard_id: Mapped[int | None] = mapped_column(ForeignKey("leaderboards.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BadgeAward(Base):
    __tablename__ = "badge_awards"
    __table_args__ = (UniqueConstraint("badge_id", "user_id", "tier"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badges.id"))
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    tier: Mapped[int]
    tier_name: Mapped[str] = mapped_column(String(200))
    earned_at: Mapped[datetime]
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Leaderboard(Base):
    """A periodic ranking of a metric (排行榜), apart from levels."""

    __tablename__ = "leaderboards"
    __table_args__ = (
        CheckConstraint(_one_of("metric", BOARD_METRIC_NAMES), name="metric"),
        CheckConstraint(_one_of("period", BOARD_PERIOD_NAMES), name="period"),
        CheckConstraint("size > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(default=100)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeaderboardEntry(Base):
    """One user's place on a board for one period (replaced when the period is recomputed)."""

    __tablename__ = "leaderboard_entries"

    leaderboard_id: Mapped[int] = mapped_column(
        ForeignKey("leaderboards.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[date] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), primary_key=True)
    rank: Mapped[int]
    value: Mapped[int] = mapped_column(_Points)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


def _refuse_ledger_change(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    raise AppendOnlyError(f"{target.__tablename__} is append-only; entry {target.id} cannot change")


for _append_only in (PointsEntry, PointsAllocation, GrowthEntry, RuleApplication, BenefitUse):
    event.listen(_append_only, "before_update", _refuse_ledger_change)
    event.listen(_append_only, "before_delete", _refuse_ledger_change)


# Profiles: tag taxonomy, tag definitions, segments (userops.profiles; docs/profiles.md) --------
# Tag values, their daily snapshots and segment members live in the warehouse (tag_values,
# tag_snapshots, segment_members): they are per user and read by analytical queries.

TagValueType = Literal["boolean", "enum", "number", "date"]
TagKind = Literal["rule", "computed", "imported"]
SegmentKind = Literal["dynamic", "static"]
RefreshStatus = Literal["running", "succeeded", "failed", "interrupted"]
RefreshSchedule = Literal["daily", "manual"]

TAG_VALUE_TYPES: Final[tuple[str, ...]] = get_args(TagValueType)
TAG_KINDS: Final[tuple[str, ...]] = get_args(TagKind)
SEGMENT_KINDS: Final[tuple[str, ...]] = get_args(SegmentKind)
REFRESH_STATUSES: Final[tuple[str, ...]] = get_args(RefreshStatus)
REFRESH_SCHEDULES: Final[tuple[str, ...]] = get_args(RefreshSchedule)
CODE_LENGTH: Final = 64


class TagCategory(Base):
    """A first-level category (parent_id NULL) or a sub-category of the tag taxonomy."""

    __tablename__ = "tag_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tag_categories.id"))
    position: Mapped[int] = mapped_column(default=0)
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagDefinition(Base):
    """A tag: what it means (`definition`, by `kind`), its value type and refresh schedule.

    `code` is the key its values carry in the warehouse (tag_values.tag)."""

    __tablename__ = "tags"
    __table_args__ = (
        CheckConstraint(_one_of("value_type", TAG_VALUE_TYPES), name="value_type"),
        CheckConstraint(_one_of("kind", TAG_KINDS), name="kind"),
        CheckConstraint(_one_of("schedule", REFRESH_SCHEDULES), name="schedule"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    category_id: Mapped[int] = mapped_column(ForeignKey("tag_categories.id"))
    value_type: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule: Mapped[str] = mapped_column(String(16), default="daily")
    is_active: Mapped[bool] = mapped_column(default=True)
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    refreshed_at: Mapped[datetime | None]
    tagged_users: Mapped[int | None] = mapped_column(BigInteger)


class Segment(Base):
    """An audience (人群): a rule (documented JSON, docs/segments.md) evaluated on refresh
    (dynamic) or a frozen list of users (static); members live in warehouse.segment_members."""

    __tablename__ = "segments"
    __table_args__ = (CheckConstraint(_one_of("kind", SEGMENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    refreshed_at: Mapped[datetime | None]
    size: Mapped[int | None] = mapped_column(BigInteger)


class RefreshRun(Base):
    """One run of `userops tags refresh` (or the server's daily schedule)."""

    __tablename__ = "refresh_runs"
    __table_args__ = (CheckConstraint(_one_of("status", REFRESH_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")
    snapshot_date: Mapped[date | None]
    trigger: Mapped[str] = mapped_column(String(32), default="cli")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

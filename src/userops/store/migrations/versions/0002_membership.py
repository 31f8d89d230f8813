"""Membership and growth system: points ledger and lots, growth value, levels and their
history, benefits, incentive rules and their applications, badges, leaderboards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:59:45.918410
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "benefits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('percent_discount', 'free_shipping', 'birthday_gift', 'monthly_coupons', "
            "'priority_service', 'points_multiplier')",
            name=op.f("ck_benefits_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefits")),
        sa.UniqueConstraint("code", name=op.f("uq_benefits_code")),
    )
    op.create_table(
        "leaderboards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "metric IN ('points_earned', 'growth_earned', 'event_count', 'revenue')",
            name=op.f("ck_leaderboards_metric"),
        ),
        sa.CheckConstraint(
            "period IN ('day', 'week', 'month', 'year')", name=op.f("ck_leaderboards_period")
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_leaderboards_size_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboards")),
        sa.UniqueConstraint("code", name=op.f("uq_leaderboards_code")),
    )
    op.create_table(
        "level_schemes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("window_months", sa.Integer(), nullable=True),
        sa.Column("keep_days", sa.Integer(), nullable=False),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "policy IN ('only_up', 'up_down')", name=op.f("ck_level_schemes_policy")
        ),
        sa.CheckConstraint(
            "keep_days >= 0 AND notice_days >= 0",
            name=op.f("ck_level_schemes_periods_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_level_schemes")),
        sa.UniqueConstraint("code", name=op.f("uq_level_schemes_code")),
    )
    op.create_table(
        "points_accounts",
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_points_accounts_balance_not_negative")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_points_accounts")),
    )
    op.create_table(
        "badges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("leaderboard_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('event_count', 'streak', 'top_rank')", name=op.f("ck_badges_kind")
        ),
        sa.ForeignKeyConstraint(
            ["leaderboard_id"],
            ["leaderboards.id"],
            name=op.f("fk_badges_leaderboard_id_leaderboards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges")),
        sa.UniqueConstraint("code", name=op.f("uq_badges_code")),
    )
    op.create_table(
        "incentive_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("points_mode", sa.String(length=16), nullable=False),
        sa.Column("points_value", sa.BigInteger(), nullable=False),
        sa.Column("growth_mode", sa.String(length=16), nullable=False),
        sa.Column("growth_value", sa.BigInteger(), nullable=False),
        sa.Column("unit_cents", sa.Integer(), nullable=False),
        sa.Column("use_multiplier", sa.Boolean(), nullable=False),
        sa.Column("multiplier_scheme_id", sa.Integer(), nullable=True),
        sa.Column("cap_period", sa.String(length=8), nullable=False),
        sa.Column("points_cap_day", sa.BigInteger(), nullable=True),
        sa.Column("points_cap_period", sa.BigInteger(), nullable=True),
        sa.Column("points_cap_lifetime", sa.BigInteger(), nullable=True),
        sa.Column("growth_cap_day", sa.BigInteger(), nullable=True),
        sa.Column("growth_cap_period", sa.BigInteger(), nullable=True),
        sa.Column("growth_cap_lifetime", sa.BigInteger(), nullable=True),
        sa.Column("maturity_days", sa.Integer(), nullable=False),
        sa.Column("expiry", sa.String(length=32), nullable=False),
        sa.Column("reference_property", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "cap_period IN ('week', 'month', 'year')", name=op.f("ck_incentive_rules_cap_period")
        ),
        sa.CheckConstraint(
            "growth_mode IN ('none', 'fixed', 'per_amount')",
            name=op.f("ck_incentive_rules_growth_mode"),
        ),
        sa.CheckConstraint(
            "points_mode IN ('none', 'fixed', 'per_amount')",
            name=op.f("ck_incentive_rules_points_mode"),
        ),
        sa.ForeignKeyConstraint(
            ["multiplier_scheme_id"],
            ["level_schemes.id"],
            name=op.f("fk_incentive_rules_multiplier_scheme_id_level_schemes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incentive_rules")),
        sa.UniqueConstraint("code", name=op.f("uq_incentive_rules_code")),
    )
    op.create_table(
        "leaderboard_entries",
        sa.Column("leaderboard_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["leaderboard_id"],
            ["leaderboards.id"],
            name=op.f("fk_leaderboard_entries_leaderboard_id_leaderboards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "leaderboard_id", "period_start", "user_id", name=op.f("pk_leaderboard_entries")
        ),
    )
    op.create_table(
        "levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("invite_only", sa.Boolean(), nullable=False),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_levels_threshold_not_negative")),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["level_schemes.id"],
            name=op.f("fk_levels_scheme_id_level_schemes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_levels")),
        sa.UniqueConstraint("scheme_id", "code", name=op.f("uq_levels_scheme_id_code")),
        sa.UniqueConstraint("scheme_id", "rank", name=op.f("uq_levels_scheme_id_rank")),
    )
    op.create_table(
        "badge_awards",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("tier_name", sa.String(length=200), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["badge_id"], ["badges.id"], name=op.f("fk_badge_awards_badge_id_badges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badge_awards")),
        sa.UniqueConstraint(
            "badge_id", "user_id", "tier", name=op.f("uq_badge_awards_badge_id_user_id_tier")
        ),
    )
    with op.batch_alter_table("badge_awards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_badge_awards_user_id"), ["user_id"], unique=False)

    op.create_table(
        "benefit_usage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("benefit_id", sa.Integer(), nullable=False),
        sa.Column("level_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_benefit_usage_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["benefit_id"], ["benefits.id"], name=op.f("fk_benefit_usage_benefit_id_benefits")
        ),
        sa.ForeignKeyConstraint(
            ["level_id"], ["levels.id"], name=op.f("fk_benefit_usage_level_id_levels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_usage")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_benefit_usage_idempotency_key")),
    )
    with op.batch_alter_table("benefit_usage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_benefit_usage_user_id_benefit_id_used_at",
            ["user_id", "benefit_id", "used_at"],
            unique=False,
        )

    op.create_table(
        "growth_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('earn', 'adjust', 'reverse')", name=op.f("ck_growth_ledger_kind")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["growth_ledger.id"],
            name=op.f("fk_growth_ledger_reverses_id_growth_ledger"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["incentive_rules.id"],
            name=op.f("fk_growth_ledger_rule_id_incentive_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_growth_ledger")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_growth_ledger_idempotency_key")),
    )
    with op.batch_alter_table("growth_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_growth_ledger_reference"), ["reference"], unique=False)
        batch_op.create_index(batch_op.f("ix_growth_ledger_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(
            "ix_growth_ledger_user_id_effective_at", ["user_id", "effective_at"], unique=False
        )

    op.create_table(
        "incentive_counters",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "span IN ('day', 'period', 'life')", name=op.f("ck_incentive_counters_span")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["incentive_rules.id"],
            name=op.f("fk_incentive_counters_rule_id_incentive_rules"),
        ),
        sa.PrimaryKeyConstraint(
            "rule_id", "user_id", "span", "start", name=op.f("pk_incentive_counters")
        ),
    )
    op.create_table(
        "level_benefits",
        sa.Column("level_id", sa.Integer(), nullable=False),
        sa.Column("benefit_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("quota_period", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "quota IS NULL OR (quota >= 0 AND "
            "quota_period IN ('day', 'week', 'month', 'year', 'lifetime'))",
            name=op.f("ck_level_benefits_quota"),
        ),
        sa.ForeignKeyConstraint(
            ["benefit_id"],
            ["benefits.id"],
            name=op.f("fk_level_benefits_benefit_id_benefits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["level_id"],
            ["levels.id"],
            name=op.f("fk_level_benefits_level_id_levels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("level_id", "benefit_id", name=op.f("pk_level_benefits")),
    )
    op.create_table(
        "level_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_level_id", sa.Integer(), nullable=True),
        sa.Column("to_level_id", sa.Integer(), nullable=True),
        sa.Column("on_day", sa.Date(), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("downgrade_on", sa.Date(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('upgrade', 'downgrade', 'notice', 'keep_started', 'keep_cleared', "
            "'assigned', 'unassigned')",
            name=op.f("ck_level_history_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["from_level_id"], ["levels.id"], name=op.f("fk_level_history_from_level_id_levels")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["level_schemes.id"],
            name=op.f("fk_level_history_scheme_id_level_schemes"),
        ),
        sa.ForeignKeyConstraint(
            ["to_level_id"], ["levels.id"], name=op.f("fk_level_history_to_level_id_levels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_level_history")),
    )
    with op.batch_alter_table("level_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_level_history_on_day"), ["on_day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_level_history_published_at"), ["published_at"], unique=False
        )
        batch_op.create_index(
            "ix_level_history_scheme_id_user_id_on_day",
            ["scheme_id", "user_id", "on_day"],
            unique=False,
        )

    op.create_table(
        "member_levels",
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("level_id", sa.Integer(), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("below_since", sa.Date(), nullable=True),
        sa.Column("downgrade_on", sa.Date(), nullable=True),
        sa.Column("notice_sent", sa.Boolean(), nullable=False),
        sa.Column("assigned", sa.Boolean(), nullable=False),
        sa.Column("assigned_until", sa.Date(), nullable=True),
        sa.Column("evaluated_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["level_id"], ["levels.id"], name=op.f("fk_member_levels_level_id_levels")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["level_schemes.id"],
            name=op.f("fk_member_levels_scheme_id_level_schemes"),
        ),
        sa.PrimaryKeyConstraint("scheme_id", "user_id", name=op.f("pk_member_levels")),
    )
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("op_key", sa.String(length=300), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matures_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "(kind <> 'earn' OR amount > 0) AND (kind NOT IN ('spend', 'expire') OR amount < 0)",
            name=op.f("ck_points_ledger_signs"),
        ),
        sa.CheckConstraint(
            "amount <> 0 OR kind = 'reverse'", name=op.f("ck_points_ledger_amount_not_zero")
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'spend', 'expire', 'adjust', 'reverse')",
            name=op.f("ck_points_ledger_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["points_ledger.id"],
            name=op.f("fk_points_ledger_reverses_id_points_ledger"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["incentive_rules.id"],
            name=op.f("fk_points_ledger_rule_id_incentive_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_points_ledger_idempotency_key")),
    )
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_points_ledger_effective_at"), ["effective_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_points_ledger_op_key"), ["op_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_reference"), ["reference"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_points_ledger_reverses_id"), ["reverses_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_points_ledger_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_user_id"), ["user_id"], unique=False)

    op.create_table(
        "rule_applications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["incentive_rules.id"],
            name=op.f("fk_rule_applications_rule_id_incentive_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_applications")),
        sa.UniqueConstraint(
            "rule_id", "message_id", name=op.f("uq_rule_applications_rule_id_message_id")
        ),
    )
    with op.batch_alter_table("rule_applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_applications_user_id"), ["user_id"], unique=False)

    op.create_table(
        "points_lots",
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.Column("reversed", sa.BigInteger(), nullable=False),
        sa.Column("expired_covered", sa.BigInteger(), nullable=False),
        sa.Column("clawed", sa.BigInteger(), nullable=False),
        sa.Column("owed", sa.BigInteger(), nullable=False),
        sa.Column("matures_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount = remaining + spent + expired + reversed", name=op.f("ck_points_lots_balanced")
        ),
        sa.CheckConstraint(
            "remaining >= 0 AND spent >= 0 AND expired >= 0 AND reversed >= 0 "
            "AND expired_covered >= 0 AND clawed >= 0 AND owed >= 0",
            name=op.f("ck_points_lots_counters_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["points_ledger.id"], name=op.f("fk_points_lots_entry_id_points_ledger")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_points_lots")),
    )
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_points_lots_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_lots_user_id"), ["user_id"], unique=False)

    op.create_table(
        "points_allocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_points_allocations_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["points_ledger.id"],
            name=op.f("fk_points_allocations_entry_id_points_ledger"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["points_lots.entry_id"],
            name=op.f("fk_points_allocations_lot_id_points_lots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_allocations")),
    )
    with op.batch_alter_table("points_allocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_points_allocations_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_points_allocations_lot_id"), ["lot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("points_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_allocations_lot_id"))
        batch_op.drop_index(batch_op.f("ix_points_allocations_entry_id"))

    op.drop_table("points_allocations")
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_lots_user_id"))
        batch_op.drop_index(batch_op.f("ix_points_lots_expires_at"))

    op.drop_table("points_lots")
    with op.batch_alter_table("rule_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_applications_user_id"))

    op.drop_table("rule_applications")
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_ledger_user_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_rule_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_reverses_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_reference"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_op_key"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_effective_at"))

    op.drop_table("points_ledger")
    op.drop_table("member_levels")
    with op.batch_alter_table("level_history", schema=None) as batch_op:
        batch_op.drop_index("ix_level_history_scheme_id_user_id_on_day")
        batch_op.drop_index(batch_op.f("ix_level_history_published_at"))
        batch_op.drop_index(batch_op.f("ix_level_history_on_day"))

    op.drop_table("level_history")
    op.drop_table("level_benefits")
    op.drop_table("incentive_counters")
    with op.batch_alter_table("growth_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_growth_ledger_user_id_effective_at")
        batch_op.drop_index(batch_op.f("ix_growth_ledger_rule_id"))
        batch_op.drop_index(batch_op.f("ix_growth_ledger_reference"))

    op.drop_table("growth_ledger")
    with op.batch_alter_table("benefit_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_benefit_usage_user_id_benefit_id_used_at")

    op.drop_table("benefit_usage")
    with op.batch_alter_table("badge_awards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_badge_awards_user_id"))

    op.drop_table("badge_awards")
    op.drop_table("levels")
    op.drop_table("leaderboard_entries")
    op.drop_table("incentive_rules")
    op.drop_table("badges")
    op.drop_table("points_accounts")
    op.drop_table("level_schemes")
    op.drop_table("leaderboards")
    op.drop_table("benefits")

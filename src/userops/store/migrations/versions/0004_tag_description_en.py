"""Tags: an English description beside the (Chinese) one, as names have; built-in tags get both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 15:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The built-in tags' descriptions as 0003's seeding wrote them (English), with their Chinese.
# A description an operator changed since is left alone (shown in both languages, as before).
_BUILTIN: tuple[tuple[str, str, str], ...] = (
    ("rfm_group",
     "The eight classic RFM groups (重要价值 ... 一般挽留) of buyers in the lookback window.",
     "回看期内下单用户的八类经典 RFM 分群(重要价值 …… 一般挽留)。"),
    ("rfm_r", "Recency score 1-5 of the last order (5 = most recent).",
     "最近一次下单的 R 分 1-5(5 = 最近)。"),
    ("rfm_f", "Frequency score 1-5: orders in the lookback window.",
     "F 分 1-5:回看期内的订单数。"),
    ("rfm_m", "Monetary score 1-5: revenue in the lookback window.",
     "M 分 1-5:回看期内的消费金额。"),
    ("value_grade", "Pyramid S/A/B/C/D on revenue (or another score) in the lookback window.",
     "按回看期内的消费金额(或其他分值)划分的 S/A/B/C/D 价值金字塔。"),
    ("lifecycle_stage", "Introduction, growth, maturity, dormancy or churn.",
     "引入期、成长期、成熟期、休眠期或流失期。"),
    ("activity_level", "High, medium, low or silent, by active days in the last 30 days.",
     "按近 30 天的活跃天数分为高活跃、中活跃、低活跃或沉默。"),
    ("intent_level", "Strong, medium or weak intent, by acquisition channel.",
     "按获客渠道分为强意向、有意向或弱意向。"),
    ("member_join_path", "Acquisition channel and sub-source the user joined through.",
     "用户加入时的获客渠道与子来源。"),
    ("member_invites", "Invite events the user sent.", "用户发出的邀请次数。"),
    ("member_invitees", "Distinct users who joined through the user's invitations.",
     "通过该用户的邀请加入的用户数(去重)。"),
    ("member_self_propagation", "None, some (1-2 users brought in) or strong (3 or more).",
     "无传播、有传播(带来 1-2 人)或强传播(3 人及以上)。"),
    ("member_loyalty",
     "New (under 90 days), regular (under a year) or loyal, from the first points earned.",
     "按首次获得积分至今的时长分为新会员(不足 90 天)、老会员(不足一年)或忠实会员。"),
    ("member_participation", "Distinct incentive rules triggered in the last 90 days.",
     "近 90 天触发过的不同激励规则数。"),
    ("member_participation_level", "None, low (1-2 activities) or high (3 or more).",
     "未参与、偶尔参与(1-2 个活动)或积极参与(3 个及以上)。"),
)  # fmt: skip


_TAGS = sa.table(
    "tags",
    sa.column("code", sa.String),
    sa.column("builtin", sa.Boolean),
    sa.column("description", sa.Text),
    sa.column("description_en", sa.Text),
)
_LEVEL_PREFIX = "member_level_"  # one built-in tag per level scheme, described with its code


def _pairs() -> list[tuple[str, str, str]]:
    """(code, English, Chinese) of every built-in tag, the level schemes' tags included."""
    levels = op.get_bind().execute(
        sa.select(_TAGS.c.code).where(
            _TAGS.c.builtin.is_(True), _TAGS.c.code.startswith(_LEVEL_PREFIX)
        )
    )
    pairs = list(_BUILTIN)
    for (code,) in levels:
        scheme = code[len(_LEVEL_PREFIX) :]
        pairs.append(
            (
                code,
                f"The user's level in the level scheme {scheme!r}.",
                f"用户在等级体系 {scheme!r} 中的会员等级。",
            )
        )
    return pairs


def upgrade() -> None:
    op.add_column("tags", sa.Column("description_en", sa.Text(), nullable=True))
    for code, english, chinese in _pairs():
        op.execute(
            _TAGS.update()
            .where(_TAGS.c.code == code, _TAGS.c.builtin.is_(True), _TAGS.c.description == english)
            .values(description=chinese, description_en=english)
        )


def downgrade() -> None:
    for code, _english, chinese in _pairs():
        op.execute(
            _TAGS.update()
            .where(_TAGS.c.code == code, _TAGS.c.builtin.is_(True), _TAGS.c.description == chinese)
            .values(description=_TAGS.c.description_en)
        )
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("description_en")

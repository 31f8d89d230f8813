"""Messages of the profiles, tags, segments and user 360 pages."""

from __future__ import annotations

from typing import Final

EN: Final[dict[str, str]] = {
    # the area
    "profiles.title": "Profiles & segments",
    "profiles.intro": (
        "Tags, value models and audiences: find the group of users that needs something, then "
        "act on it."
    ),
    "profiles.tab.tags": "Tags",
    "profiles.tab.rfm": "RFM",
    "profiles.tab.lifecycle": "Lifecycle",
    "profiles.tab.grades": "Value pyramid",
    "profiles.tab.migration": "Migration",
    "profiles.tab.segments": "Segments",
    "profiles.tab.users": "User 360",
    "profiles.cancel": "Cancel",
    "profiles.yes": "Yes",
    "profiles.no": "No",
    # columns
    "profiles.col.tag": "Tag",
    "profiles.col.code": "Code",
    "profiles.col.value_type": "Value type",
    "profiles.col.kind": "Kind",
    "profiles.col.owner": "Owner",
    "profiles.col.refreshed": "Last refresh",
    "profiles.col.tagged_users": "Tagged users",
    "profiles.col.category": "Category",
    "profiles.col.schedule": "Schedule",
    "profiles.col.value": "Value",
    "profiles.col.users": "Users",
    "profiles.col.share": "Share",
    "profiles.col.total": "Total",
    "profiles.type.boolean": "Yes / no",
    "profiles.type.enum": "Categories",
    "profiles.type.number": "Number",
    "profiles.type.date": "Date",
    "profiles.kind.computed": "Computed",
    "profiles.kind.rule": "Rule",
    "profiles.kind.imported": "Imported",
    "profiles.schedule.daily": "Daily",
    "profiles.schedule.manual": "Manual",
    # refresh
    "profiles.refresh.title": "Tag refresh",
    "profiles.refresh.help": (
        "Tags are recomputed every day; refresh now after changing parameters or importing data. "
        "Dynamic segments follow a full refresh."
    ),
    "profiles.refresh.now": "Refresh now",
    "profiles.refresh.force": "Recompute unchanged tags too",
    "profiles.refresh.this_tag": "Refresh this tag now",
    "profiles.refresh.run": "Run #{id}",
    "profiles.refresh.for_day": "for {day}",
    "profiles.refresh.started": "started {at} by {by}",
    "profiles.refresh.finished": "finished {at}",
    "profiles.refresh.counts": "{refreshed} refreshed, {skipped} unchanged, {failed} failed",
    "profiles.refresh.counts_head": "Tags",
    "profiles.refresh.reload": "Reload the page to see the new values.",
    "profiles.refresh.earlier": "Earlier runs",
    "profiles.refresh.day": "Day",
    "profiles.refresh.started_at": "Started",
    "profiles.refresh.by": "Started by",
    "profiles.refresh.refused": "The refresh did not start: {reason}",
    "profiles.refresh.started_flash": "Refresh run #{id} started.",
    "profiles.run.running": "Running…",
    "profiles.run.succeeded": "Succeeded",
    "profiles.run.failed": "Failed",
    "profiles.run.interrupted": "Interrupted",
    # taxonomy
    "profiles.tags.title": "Tag taxonomy",
    "profiles.tags.help": (
        "Categories, then sub-categories, then tags. Open a tag to see its values, change its "
        "parameters and preview the result before saving."
    ),
    "profiles.tags.new_rule": "New rule tag",
    "profiles.tags.empty_category": "No tags in this category yet.",
    # a tag
    "profiles.tag.snapshots": "Daily snapshots",
    "profiles.tag.snapshot_span": "{n} days, {first} to {last}",
    "profiles.tag.see_migration": "see how users moved",
    "profiles.tag.definition": "Definition (JSON)",
    "profiles.tag.distribution": "Users per value",
    "profiles.tag.no_values": "No user has a value yet: refresh the tags.",
    "profiles.tag.params": "Parameters",
    "profiles.tag.params_help": (
        "An empty box takes the model's default. Lists are comma-separated (30, 60, 90, 180). "
        "Preview shows the values the new parameters would give today, before anything is saved."
    ),
    "profiles.tag.params_from": "This tag uses the parameters of",
    "profiles.tag.preview": "Preview",
    "profiles.tag.preview_total": "{n} users would be tagged",
    "profiles.tag.preview_now": "{n} now",
    "profiles.tag.preview_chart": "Users per value with these settings",
    "profiles.tag.preview_help": (
        "Nothing was saved. Save, then refresh, to make these the tag's values."
    ),
    "profiles.tag.rule": "Rule",
    "profiles.tag.rule_help": (
        'The rule is JSON: {"when": RULE} for a yes/no tag, or {"cases": [{"when": RULE, "then": '
        '"A"}, ...], "else": "B"}. Edit it and preview the values it gives.'
    ),
    "profiles.tag.rule_save_help": (
        "Saving replaces the rule (a yes/no tag stays yes/no, a tag with cases keeps cases); the "
        "next refresh recomputes the values, and the history keeps the days before."
    ),
    "profiles.tag.rule_saved": "The rule of {code} was saved; refresh to recompute its values.",
    "profiles.tag.params_saved": (
        "The parameters of {code} were saved; refresh to recompute its values."
    ),
    "profiles.tag.switch_off": "Switch off",
    "profiles.tag.switch_on": "Switch on",
    "profiles.tag.switch_off_confirm": "Stop refreshing {code}? Its current values stay.",
    "profiles.tag.switched_off": "{code} is switched off: it is no longer refreshed.",
    "profiles.tag.switched_on": "{code} is switched on: the next refresh computes it.",
    "profiles.tag.created": "Rule tag {code} was created; refresh to compute its values.",
    "profiles.param.lookback_days": "Lookback (days)",
    "profiles.param.scoring": "Scoring (quantile / threshold)",
    "profiles.param.recency_edges": "R edges (days)",
    "profiles.param.frequency_edges": "F edges (orders)",
    "profiles.param.monetary_edges": "M edges (amount)",
    "profiles.param.compare": "High or low (mean / cut)",
    "profiles.param.r_cut": "R cut",
    "profiles.param.f_cut": "F cut",
    "profiles.param.m_cut": "M cut",
    "profiles.param.dormant_days": "Dormant after (days)",
    "profiles.param.churn_days": "Churned after (days)",
    "profiles.param.mature_orders": "Mature from (orders)",
    "profiles.param.mature_age_days": "Mature from (days since signup)",
    "profiles.param.measure": "Score",
    "profiles.param.event": "Event (score 'events')",
    "profiles.param.method": "Method (shares / thresholds)",
    "profiles.param.shares": "Shares of S, A, B, C, D (%)",
    "profiles.param.thresholds": "Least score of S, A, B, C",
    "profiles.param.mapping": "Channel → intent",
    "profiles.param.default": "Intent of other channels",
    "profiles.param.window_days": "Window (days)",
    "profiles.param.high_days": "High from (active days)",
    "profiles.param.medium_days": "Medium from (active days)",
    "profiles.param.scheme": "Level scheme",
    # new rule tag
    "profiles.rule_tag.help": (
        "A rule tag gives users a value from an audience rule: the same conditions as segments "
        "(traits, tags, behaviour, segments)."
    ),
    "profiles.rule_tag.name": "Name",
    "profiles.rule_tag.name_en": "English name",
    "profiles.rule_tag.description": "Description",
    "profiles.rule_tag.description_en": "English description",
    "profiles.rule_tag.definition": "Definition",
    "profiles.rule_tag.definition_help": (
        '{"when": RULE} makes a yes/no tag; {"cases": [...], "else": ...} a tag with several valu'
        "es. docs/segments.md describes the rules."
    ),
    # RFM
    "profiles.rfm.intro": (
        "Buyers of the last {days} days in the eight classic RFM groups: recency (R), frequency "
        "(F) and monetary value (M), each high or low."
    ),
    "profiles.rfm.params": "Change the RFM parameters",
    "profiles.rfm.empty": "No RFM groups yet: refresh the tags (Tags tab) to compute them.",
    "profiles.rfm.buyers": "Buyers in a group",
    "profiles.rfm.revenue": "Their revenue ({days} days)",
    "profiles.rfm.as_of": "Computed for",
    "profiles.rfm.refreshed": "refreshed {at}",
    "profiles.rfm.chart": "Share of buyers and share of revenue per group",
    "profiles.rfm.group": "Group",
    "profiles.rfm.user_share": "Share of buyers",
    "profiles.rfm.revenue_col": "Revenue",
    "profiles.rfm.revenue_share": "Share of revenue",
    "profiles.rfm.avg_r": "Avg R",
    "profiles.rfm.avg_f": "Avg F",
    "profiles.rfm.avg_m": "Avg M",
    "profiles.rfm.action": "Suggested action",
    "profiles.rfm.make_segment": "Build a segment of these users",
    "profiles.rfm.reading": (
        "↑ above and ↓ below the buyers' average score (or the cut set in the parameters). "
        "Scores go from 1 to 5; 5 is the most recent, most frequent, highest spending."
    ),
    "profiles.rfm.action.important_value": (
        "Your best customers: keep them close with VIP service, early access and member-only "
        "benefits; no discounts needed."
    ),
    "profiles.rfm.action.important_develop": (
        "Recent big spenders who buy rarely: raise frequency with cross-sell, bundles and a "
        "repurchase coupon with a deadline."
    ),
    "profiles.rfm.action.important_keep": (
        "Loyal big spenders drifting away: reach out now (SMS or a call), remind them of their "
        "points and benefits, give a personal offer."
    ),
    "profiles.rfm.action.important_winback": (
        "High value, long gone: recall with a strong coupon through several channels, and ask "
        "why they left."
    ),
    "profiles.rfm.action.general_value": (
        "Frequent, recent, low spend: raise the basket with threshold discounts (满减), bundles "
        "and tiered spend rewards."
    ),
    "profiles.rfm.action.general_develop": (
        'New or occasional buyers: nurture with a welcome series, newcomer offers and "buy again '
        'within 30 days" rewards.'
    ),
    "profiles.rfm.action.general_keep": (
        "Used to buy often, small amounts, now quiet: a low-cost reminder (push, points about to "
        "expire) and a small coupon."
    ),
    "profiles.rfm.action.general_winback": (
        "Low value and inactive: low-cost recall only (push, email); do not spend coupons on them."
    ),
    # lifecycle
    "profiles.lifecycle.intro": (
        "Users per lifecycle stage, from introduction to churn, as the last refresh computed them."
    ),
    "profiles.lifecycle.params": "Change the stage thresholds",
    "profiles.lifecycle.empty": "No stages yet: refresh the tags (Tags tab) to compute them.",
    "profiles.lifecycle.chart": "Users per stage ({n} users)",
    "profiles.lifecycle.stage": "Stage",
    "profiles.lifecycle.rule": "Rule",
    "profiles.lifecycle.rule.introduction": "no order yet",
    "profiles.lifecycle.rule.growth": (
        "at least one order but fewer than {orders}, signed up less than {age} days ago"
    ),
    "profiles.lifecycle.rule.maturity": (
        "{orders} orders or more, or signed up {age} days ago or more"
    ),
    "profiles.lifecycle.rule.dormancy": "no activity for {dormant} days or more",
    "profiles.lifecycle.rule.churn": "no activity for {churn} days or more",
    "profiles.lifecycle.action.introduction": (
        "Activate: a first-purchase coupon or newcomer privilege, a guided first use."
    ),
    "profiles.lifecycle.action.growth": (
        "Grow: repurchase rewards, cross-sell, points for the basic actions."
    ),
    "profiles.lifecycle.action.maturity": (
        "Keep and use: member benefits, invite-a-friend rewards, seed-user programmes."
    ),
    "profiles.lifecycle.action.dormancy": (
        "Wake up before they churn: a reminder with something new, expiring points, a small coupon."
    ),
    "profiles.lifecycle.action.churn": (
        "Recall: analyse why they left, then a recall campaign by the channel they answer; call "
        "the valuable ones."
    ),
    # grades
    "profiles.grades.intro": (
        "The value pyramid: S at the top, D at the bottom, by {measure} over the last {days} days."
    ),
    "profiles.grades.params": "Change the grading",
    "profiles.grades.empty": "No grades yet: refresh the tags (Tags tab) to compute them.",
    "profiles.grades.chart": "Value pyramid ({n} users)",
    "profiles.grades.grade": "Grade",
    "profiles.grades.action.S": (
        "Resources first: a dedicated contact, exclusive benefits, early access."
    ),
    "profiles.grades.action.A": "Grow into S: personal offers, higher-tier benefits within reach.",
    "profiles.grades.action.B": "Raise value: bundles, tiered spend rewards, member days.",
    "profiles.grades.action.C": "Build the habit: points for regular actions, light coupons.",
    "profiles.grades.action.D": "Low-cost reach only: content and push; spend little.",
    # migration
    "profiles.migration.intro": (
        "How users moved between the values of a tag from one refresh day to another (for "
        "example RFM groups or lifecycle stages)."
    ),
    "profiles.migration.from": "From day",
    "profiles.migration.to": "To day",
    "profiles.migration.show": "Show",
    "profiles.migration.days_help": (
        "Each day reads the tag's latest snapshot on or before it. A snapshot is kept for every "
        "refresh day."
    ),
    "profiles.migration.no_snapshots": (
        "This tag has no snapshots yet: refresh the tags on two different days to compare them."
    ),
    "profiles.migration.title": "From {start} to {end}",
    "profiles.migration.summary": "{moved} of {total} users changed value.",
    "profiles.migration.sankey": "Where the users of each value went",
    "profiles.migration.same_day": (
        "Both days read the same snapshot: pick two different days to see movements."
    ),
    "profiles.migration.from_to": "From ↓ / to →",
    # segments
    "profiles.segments.intro": (
        "Segments are audiences saved under a code: dynamic ones follow their rule at every "
        "refresh, static ones are a frozen list."
    ),
    "profiles.segments.new": "New segment",
    "profiles.segments.empty": "No segments yet.",
    "profiles.segments.segment": "Segment",
    "profiles.segments.size": "Users",
    "profiles.segment.kind.dynamic": "Dynamic",
    "profiles.segment.kind.static": "Static",
    "profiles.segment.kind_help": (
        "Dynamic: re-evaluated at every tag refresh. Static: today's users, frozen."
    ),
    "profiles.segment.export": "Export CSV",
    "profiles.segment.source": "Source",
    "profiles.segment.delete": "Delete",
    "profiles.segment.delete_confirm": "Delete the segment {name} and its member list?",
    "profiles.segment.members": "Members ({n})",
    "profiles.segment.members_more": (
        "The first {shown} of {n}, by user id; export the CSV for all."
    ),
    "profiles.segment.no_members": "No members.",
    "profiles.segment.rule": "Rule",
    "profiles.segment.save_rule": "Save the rule and re-evaluate",
    "profiles.segment.save_title": "Save the segment",
    "profiles.segment.name": "Name",
    "profiles.segment.description": "Description",
    "profiles.segment.save": "Save segment",
    "profiles.segment.analyst_note": (
        "Operators and admins save segments; you can build and preview them."
    ),
    "profiles.segment.created": "Segment {code} was saved with {size} users.",
    "profiles.segment.updated": "The rule of {code} was saved: {size} users now.",
    "profiles.segment.deleted": "Segment {code} was deleted.",
    "profiles.segment.not_deleted": "Segment {code} was not deleted: {reason}",
    # the builder
    "profiles.builder.help": (
        "Combine conditions in groups: all of them, any of them, or not. The number of matching "
        "users updates as you edit."
    ),
    "profiles.builder.kind": "Condition on",
    "profiles.builder.kind.trait": "Attribute",
    "profiles.builder.kind.tag": "Tag",
    "profiles.builder.kind.event": "Behaviour",
    "profiles.builder.kind.segment": "In segment",
    "profiles.builder.kind.json": "JSON condition",
    "profiles.builder.group": "Group",
    "profiles.builder.group.all": "All of these (AND)",
    "profiles.builder.group.any": "Any of these (OR)",
    "profiles.builder.group.not": "Not all of these (NOT)",
    "profiles.builder.choose": "— choose —",
    "profiles.builder.event_name": "event, e.g. purchase",
    "profiles.builder.measure": "Measure",
    "profiles.builder.property": "Property",
    "profiles.builder.op": "Operator",
    "profiles.builder.value": "Value",
    "profiles.builder.low": "from",
    "profiles.builder.high": "to",
    "profiles.builder.within": "in the last",
    "profiles.builder.days": "days",
    "profiles.builder.within_help": "Empty: all of the user's history",
    "profiles.builder.add_condition": "Condition",
    "profiles.builder.add_group": "Group",
    "profiles.builder.as_json": "Edit as JSON",
    "profiles.builder.as_json_help": (
        "Paste or edit the rule as JSON (docs/segments.md), then load it into the builder."
    ),
    "profiles.builder.load_json": "Load into the builder",
    "profiles.builder.waiting": "Choose the conditions: the number of matching users appears here.",
    "profiles.builder.row": "Row {row}:",
    "profiles.builder.matches_before": "Today,",
    "profiles.builder.matches_after": "users match.",
    "profiles.builder.sample": "A sample (first by user id): open one to see their profile.",
    "profiles.builder.rule_json": "The rule as JSON",
    "profiles.builder.hint.list": "values, separated by commas",
    "profiles.builder.hint.days_or_date": "days ago (7) or a date (2026-01-31)",
    "profiles.builder.hint.date": "a date, e.g. 1990-05-01",
    "profiles.builder.hint.years": "years, e.g. 30",
    "profiles.builder.hint.text": "value",
    "profiles.builder.hint.number": "a number",
    "profiles.op.eq": "is",
    "profiles.op.ne": "is not",
    "profiles.op.in": "is one of",
    "profiles.op.not_in": "is none of",
    "profiles.op.between": "between",
    "profiles.op.lt": "<",
    "profiles.op.lte": "≤",
    "profiles.op.gt": ">",
    "profiles.op.gte": "≥",
    "profiles.op.is_set": "is set",
    "profiles.op.not_set": "is not set",
    "profiles.op.did": "did it at least once",
    "profiles.measure.count": "number of times",
    "profiles.measure.sum": "sum of",
    "profiles.measure.avg": "average of",
    "profiles.measure.max": "largest",
    "profiles.measure.min": "smallest",
    "profiles.measure.first_time": "first time (day)",
    "profiles.measure.last_time": "last time (day)",
    # traits
    "profiles.trait.user_id": "User id",
    "profiles.trait.channel": "Channel",
    "profiles.trait.gender": "Gender",
    "profiles.trait.province": "Province",
    "profiles.trait.city": "City",
    "profiles.trait.occupation": "Occupation",
    "profiles.trait.phone": "Phone",
    "profiles.trait.email": "Email",
    "profiles.trait.birthday": "Birthday",
    "profiles.trait.created_at": "Signed up",
    "profiles.trait.age": "Age",
    "profiles.trait.updated_at": "Updated",
    # user 360
    "profiles.users.search": "User id, phone or email",
    "profiles.users.placeholder": "u001, 13800001234 or name@example.com",
    "profiles.users.find": "Find",
    "profiles.users.help_masked": (
        "User ids match from the start; phone numbers and emails must be given whole, and are "
        "shown masked."
    ),
    "profiles.users.help_admin": "User ids, phone numbers and emails match from the start.",
    "profiles.users.none": "Nobody found for {q}.",
    "profiles.user.title": "User {user}",
    "profiles.user.traits": "Attributes",
    "profiles.user.masked": "Phone and email are masked: only admins see them whole.",
    "profiles.user.no_traits": "Known from events only: no attributes.",
    "profiles.user.custom_traits": "Other attributes",
    "profiles.user.rfm": "RFM",
    "profiles.user.no_rfm": "No purchase in the RFM window.",
    "profiles.user.score.r": "R (recency)",
    "profiles.user.score.f": "F (frequency)",
    "profiles.user.score.m": "M (monetary)",
    "profiles.user.history": "Stage and grade history",
    "profiles.user.no_history": "No snapshots yet.",
    "profiles.user.tags": "Tags",
    "profiles.user.no_tags": "No tags yet.",
    "profiles.user.since": "this value since {at}",
    "profiles.user.timeline": "Events",
    "profiles.user.when": "When",
    "profiles.user.event": "Event",
    "profiles.user.revenue": "Revenue",
    "profiles.user.properties": "Properties",
    "profiles.user.no_events": "No events.",
    "profiles.user.newer": "Newer",
    "profiles.user.older": "Older",
    "profiles.user.page": "Page {n}",
    "profiles.user.loading_membership": "Loading points and levels…",
}

ZH_CN: Final[dict[str, str]] = {
    "profiles.title": "用户画像与分群",
    "profiles.intro": "标签、价值模型与人群：找到需要运营动作的那群用户，再对症下药。",
    "profiles.tab.tags": "标签体系",
    "profiles.tab.rfm": "RFM 分析",
    "profiles.tab.lifecycle": "生命周期",
    "profiles.tab.grades": "价值金字塔",
    "profiles.tab.migration": "迁移分析",
    "profiles.tab.segments": "人群圈选",
    "profiles.tab.users": "用户360",
    "profiles.cancel": "取消",
    "profiles.yes": "是",
    "profiles.no": "否",
    "profiles.col.tag": "标签",
    "profiles.col.code": "编码",
    "profiles.col.value_type": "值类型",
    "profiles.col.kind": "类型",
    "profiles.col.owner": "负责人",
    "profiles.col.refreshed": "最近更新",
    "profiles.col.tagged_users": "覆盖用户数",
    "profiles.col.category": "分类",
    "profiles.col.schedule": "更新频率",
    "profiles.col.value": "标签值",
    "profiles.col.users": "用户数",
    "profiles.col.share": "占比",
    "profiles.col.total": "合计",
    "profiles.type.boolean": "是/否",
    "profiles.type.enum": "枚举",
    "profiles.type.number": "数值",
    "profiles.type.date": "日期",
    "profiles.kind.computed": "计算标签",
    "profiles.kind.rule": "规则标签",
    "profiles.kind.imported": "导入标签",
    "profiles.schedule.daily": "每日",
    "profiles.schedule.manual": "手动",
    "profiles.refresh.title": "标签更新",
    "profiles.refresh.help": (
        "标签每天自动重算；修改参数或导入数据后可立即更新。全量更新后动态人群随之刷新。"
    ),
    "profiles.refresh.now": "立即更新",
    "profiles.refresh.force": "未变化的标签也重算",
    "profiles.refresh.this_tag": "立即更新此标签",
    "profiles.refresh.run": "第 {id} 次运行",
    "profiles.refresh.for_day": "数据日 {day}",
    "profiles.refresh.started": "{at} 由 {by} 发起",
    "profiles.refresh.finished": "{at} 结束",
    "profiles.refresh.counts": "已更新 {refreshed} 个，未变化 {skipped} 个，失败 {failed} 个",
    "profiles.refresh.counts_head": "标签",
    "profiles.refresh.reload": "刷新页面即可看到新值。",
    "profiles.refresh.earlier": "更早的运行",
    "profiles.refresh.day": "数据日",
    "profiles.refresh.started_at": "开始时间",
    "profiles.refresh.by": "发起人",
    "profiles.refresh.refused": "更新没有启动：{reason}",
    "profiles.refresh.started_flash": "标签更新（第 {id} 次）已启动。",
    "profiles.run.running": "运行中…",
    "profiles.run.succeeded": "成功",
    "profiles.run.failed": "失败",
    "profiles.run.interrupted": "已中断",
    "profiles.tags.title": "标签体系",
    "profiles.tags.help": (
        "一级分类 › 二级分类 › 标签。打开标签可查看取值分布、调整参数，并在保存前预览效果。"
    ),
    "profiles.tags.new_rule": "新建规则标签",
    "profiles.tags.empty_category": "该分类下还没有标签。",
    "profiles.tag.snapshots": "每日快照",
    "profiles.tag.snapshot_span": "{n} 天，{first} 至 {last}",
    "profiles.tag.see_migration": "查看用户迁移",
    "profiles.tag.definition": "定义（JSON）",
    "profiles.tag.distribution": "各标签值的用户数",
    "profiles.tag.no_values": "还没有用户拥有该标签：请先更新标签。",
    "profiles.tag.params": "参数",
    "profiles.tag.params_help": (
        "留空即使用模型默认值；列表用逗号分隔（30, 60, 90, 180）。“预览”会按新参数计算今天的结果，"
        "不会保存任何内容。"
    ),
    "profiles.tag.params_from": "此标签沿用以下标签的参数：",
    "profiles.tag.preview": "预览",
    "profiles.tag.preview_total": "将有 {n} 位用户被打上标签",
    "profiles.tag.preview_now": "当前 {n} 位",
    "profiles.tag.preview_chart": "按此设置的各标签值用户数",
    "profiles.tag.preview_help": "尚未保存。保存后再更新标签，新值才会生效。",
    "profiles.tag.rule": "规则",
    "profiles.tag.rule_help": (
        '规则为 JSON：是/否标签写 {"when": 规则}，多值标签写 {"cases": [{"when": 规则, "then": "A'
        '"}, ...], "else": "B"}。修改后可预览取值分布。'
    ),
    "profiles.tag.rule_save_help": (
        "保存即替换规则（是/否标签仍为是/否，多值标签仍为多值）；下次更新标签时重新计算取值，"
        "历史快照保留此前各天的取值。"
    ),
    "profiles.tag.rule_saved": "{code} 的规则已保存；更新标签后生效。",
    "profiles.tag.params_saved": "{code} 的参数已保存；更新标签后生效。",
    "profiles.tag.switch_off": "停用",
    "profiles.tag.switch_on": "启用",
    "profiles.tag.switch_off_confirm": "停止更新 {code}？当前的标签值会保留。",
    "profiles.tag.switched_off": "{code} 已停用，不再更新。",
    "profiles.tag.switched_on": "{code} 已启用，下次更新时计算。",
    "profiles.tag.created": "规则标签 {code} 已创建；更新标签后即可看到取值。",
    "profiles.param.lookback_days": "回溯天数",
    "profiles.param.scoring": "打分方式（quantile 分位 / threshold 阈值）",
    "profiles.param.recency_edges": "R 分界（天）",
    "profiles.param.frequency_edges": "F 分界（订单数）",
    "profiles.param.monetary_edges": "M 分界（金额）",
    "profiles.param.compare": "高低判断（mean 均值 / cut 分界）",
    "profiles.param.r_cut": "R 分界分",
    "profiles.param.f_cut": "F 分界分",
    "profiles.param.m_cut": "M 分界分",
    "profiles.param.dormant_days": "休眠判定（未活跃天数）",
    "profiles.param.churn_days": "流失判定（未活跃天数）",
    "profiles.param.mature_orders": "成熟期订单数",
    "profiles.param.mature_age_days": "成熟期注册天数",
    "profiles.param.measure": "评分指标",
    "profiles.param.event": "事件（评分指标为 events 时）",
    "profiles.param.method": "分级方式（shares 比例 / thresholds 阈值）",
    "profiles.param.shares": "S、A、B、C、D 占比（%）",
    "profiles.param.thresholds": "S、A、B、C 最低分",
    "profiles.param.mapping": "渠道 → 意向",
    "profiles.param.default": "其他渠道的意向",
    "profiles.param.window_days": "统计窗口（天）",
    "profiles.param.high_days": "高活跃（活跃天数）",
    "profiles.param.medium_days": "中活跃（活跃天数）",
    "profiles.param.scheme": "等级体系",
    "profiles.rule_tag.help": (
        "规则标签按人群规则给用户打值，条件与人群圈选相同（属性、标签、行为、人群）。"
    ),
    "profiles.rule_tag.name": "名称",
    "profiles.rule_tag.name_en": "英文名称",
    "profiles.rule_tag.description": "说明",
    "profiles.rule_tag.description_en": "英文说明",
    "profiles.rule_tag.definition": "定义",
    "profiles.rule_tag.definition_help": (
        '{"when": 规则} 生成是/否标签；{"cases": [...], "else": ...} 生成多值标签。规则写法见 doc'
        "s/segments.md。"
    ),
    "profiles.rfm.intro": (
        "近 {days} 天有消费的用户，按最近一次消费（R）、消费频率（F）、消费金额（M）的高低分为经典"
        "的八类。"
    ),
    "profiles.rfm.params": "调整 RFM 参数",
    "profiles.rfm.empty": "还没有 RFM 分群：请在“标签体系”中更新标签。",
    "profiles.rfm.buyers": "分群用户数",
    "profiles.rfm.revenue": "消费金额（近 {days} 天）",
    "profiles.rfm.as_of": "数据日",
    "profiles.rfm.refreshed": "更新于 {at}",
    "profiles.rfm.chart": "各分群的用户占比与消费占比",
    "profiles.rfm.group": "分群",
    "profiles.rfm.user_share": "用户占比",
    "profiles.rfm.revenue_col": "消费金额",
    "profiles.rfm.revenue_share": "消费占比",
    "profiles.rfm.avg_r": "平均 R",
    "profiles.rfm.avg_f": "平均 F",
    "profiles.rfm.avg_m": "平均 M",
    "profiles.rfm.action": "建议动作",
    "profiles.rfm.make_segment": "圈选这群用户",
    "profiles.rfm.reading": (
        "↑ 高于、↓ 低于消费用户的平均分（或参数中设定的分界）。分数 1–5，5 表示最近、最频繁、金额最"
        "高。"
    ),
    "profiles.rfm.action.important_value": (
        "核心用户：VIP 专属服务、新品优先体验、会员专享权益，重在维护，无需打折。"
    ),
    "profiles.rfm.action.important_develop": (
        "最近消费高但频次低：交叉推荐、组合购、限时复购券，提升购买频次。"
    ),
    "profiles.rfm.action.important_keep": (
        "高价值老客正在流失：立即触达（短信或电话），提醒积分与权益，给专属优惠。"
    ),
    "profiles.rfm.action.important_winback": (
        "高价值但久未消费：多渠道召回并配合大额优惠券，同时回访了解流失原因。"
    ),
    "profiles.rfm.action.general_value": (
        "常买、最近买、客单价低：满减、组合优惠、消费阶梯奖励，提升客单价。"
    ),
    "profiles.rfm.action.general_develop": (
        "新客或偶尔购买：新人礼包与欢迎系列，“30 天内再购享优惠”培养习惯。"
    ),
    "profiles.rfm.action.general_keep": (
        "曾经常买、金额小、最近沉默：低成本提醒（推送、积分即将过期）加小额券。"
    ),
    "profiles.rfm.action.general_winback": (
        "价值低且不活跃：只做低成本召回（推送、邮件），不投入优惠券。"
    ),
    "profiles.lifecycle.intro": "各生命周期阶段的用户数，从引入期到流失期，按最近一次更新计算。",
    "profiles.lifecycle.params": "调整阶段阈值",
    "profiles.lifecycle.empty": "还没有生命周期阶段：请在“标签体系”中更新标签。",
    "profiles.lifecycle.chart": "各阶段用户数（共 {n} 人）",
    "profiles.lifecycle.stage": "阶段",
    "profiles.lifecycle.rule": "判定规则",
    "profiles.lifecycle.rule.introduction": "尚未下单",
    "profiles.lifecycle.rule.growth": "有订单但不足 {orders} 单，注册不满 {age} 天",
    "profiles.lifecycle.rule.maturity": "{orders} 单及以上，或注册满 {age} 天",
    "profiles.lifecycle.rule.dormancy": "连续 {dormant} 天及以上未活跃",
    "profiles.lifecycle.rule.churn": "连续 {churn} 天及以上未活跃",
    "profiles.lifecycle.action.introduction": "促激活：首单券或新人特权，引导完成首次使用。",
    "profiles.lifecycle.action.growth": "促成长：复购奖励、交叉推荐、基础行为送积分。",
    "profiles.lifecycle.action.maturity": "促留存与传播：会员权益、邀请有礼、种子用户计划。",
    "profiles.lifecycle.action.dormancy": "在流失前唤醒：新品提醒、积分到期提醒、小额优惠券。",
    "profiles.lifecycle.action.churn": (
        "召回：先分析流失原因，再按其响应的渠道做召回活动；高价值用户电话回访。"
    ),
    "profiles.grades.intro": "价值金字塔：S 在塔尖、D 在塔基，按近 {days} 天的 {measure} 评分。",
    "profiles.grades.params": "调整分级规则",
    "profiles.grades.empty": "还没有价值等级：请在“标签体系”中更新标签。",
    "profiles.grades.chart": "价值金字塔（共 {n} 人）",
    "profiles.grades.grade": "等级",
    "profiles.grades.action.S": "资源优先：专属客服、独享权益、新品抢先。",
    "profiles.grades.action.A": "向 S 级培养：个性化优惠，让更高一级权益触手可及。",
    "profiles.grades.action.B": "提升价值：组合优惠、消费阶梯奖励、会员日。",
    "profiles.grades.action.C": "培养习惯：常规行为送积分、轻量优惠券。",
    "profiles.grades.action.D": "只做低成本触达：内容与推送，少投入。",
    "profiles.migration.intro": (
        "查看用户在两个更新日之间如何在标签值之间迁移（如 RFM 分群、生命周期阶段）。"
    ),
    "profiles.migration.from": "起始日",
    "profiles.migration.to": "对比日",
    "profiles.migration.show": "查看",
    "profiles.migration.days_help": (
        "每个日期读取该日及之前最近的一份快照；每个更新日都会保留快照。"
    ),
    "profiles.migration.no_snapshots": "该标签还没有快照：在两个不同的日子更新标签后即可对比。",
    "profiles.migration.title": "{start} 至 {end}",
    "profiles.migration.summary": "{total} 位用户中有 {moved} 位的标签值发生了变化。",
    "profiles.migration.sankey": "各标签值用户的去向",
    "profiles.migration.same_day": "两个日期读取的是同一份快照：请选择两个不同的日期。",
    "profiles.migration.from_to": "起始 ↓ / 对比 →",
    "profiles.segments.intro": (
        "人群是以编码保存的一组用户：动态人群每次更新标签时按规则重算，静态人群是固定名单。"
    ),
    "profiles.segments.new": "新建人群",
    "profiles.segments.empty": "还没有人群。",
    "profiles.segments.segment": "人群",
    "profiles.segments.size": "人数",
    "profiles.segment.kind.dynamic": "动态人群",
    "profiles.segment.kind.static": "静态人群",
    "profiles.segment.kind_help": "动态：每次更新标签时重新圈选。静态：固定为今天圈出的用户。",
    "profiles.segment.export": "导出 CSV",
    "profiles.segment.source": "来源",
    "profiles.segment.delete": "删除",
    "profiles.segment.delete_confirm": "确定删除人群 {name} 及其名单？",
    "profiles.segment.members": "成员（{n}）",
    "profiles.segment.members_more": (
        "按用户 ID 排序的前 {shown} 位（共 {n} 位），全部名单请导出 CSV。"
    ),
    "profiles.segment.no_members": "没有成员。",
    "profiles.segment.rule": "圈选规则",
    "profiles.segment.save_rule": "保存规则并重新圈选",
    "profiles.segment.save_title": "保存人群",
    "profiles.segment.name": "名称",
    "profiles.segment.description": "说明",
    "profiles.segment.save": "保存人群",
    "profiles.segment.analyst_note": "保存人群需要运营或管理员角色；你可以搭建规则并预览人数。",
    "profiles.segment.created": "人群 {code} 已保存，共 {size} 人。",
    "profiles.segment.updated": "{code} 的规则已保存，现有 {size} 人。",
    "profiles.segment.deleted": "人群 {code} 已删除。",
    "profiles.segment.not_deleted": "人群 {code} 未删除：{reason}",
    "profiles.builder.help": (
        "把条件放进分组组合：满足全部、满足任一，或取反。编辑时匹配人数会实时更新。"
    ),
    "profiles.builder.kind": "条件类型",
    "profiles.builder.kind.trait": "用户属性",
    "profiles.builder.kind.tag": "标签",
    "profiles.builder.kind.event": "用户行为",
    "profiles.builder.kind.segment": "属于人群",
    "profiles.builder.kind.json": "JSON 条件",
    "profiles.builder.group": "分组",
    "profiles.builder.group.all": "满足以下全部（且）",
    "profiles.builder.group.any": "满足以下任一（或）",
    "profiles.builder.group.not": "不同时满足以下全部（非）",
    "profiles.builder.choose": "— 请选择 —",
    "profiles.builder.event_name": "事件，如 purchase",
    "profiles.builder.measure": "统计方式",
    "profiles.builder.property": "属性",
    "profiles.builder.op": "运算符",
    "profiles.builder.value": "值",
    "profiles.builder.low": "从",
    "profiles.builder.high": "到",
    "profiles.builder.within": "最近",
    "profiles.builder.days": "天内",
    "profiles.builder.within_help": "留空表示全部历史",
    "profiles.builder.add_condition": "条件",
    "profiles.builder.add_group": "分组",
    "profiles.builder.as_json": "以 JSON 编辑",
    "profiles.builder.as_json_help": "粘贴或编辑规则 JSON（见 docs/segments.md），再载入圈选器。",
    "profiles.builder.load_json": "载入圈选器",
    "profiles.builder.waiting": "选择条件后，这里会显示匹配的用户数。",
    "profiles.builder.row": "第 {row} 行：",
    "profiles.builder.matches_before": "今天共有",
    "profiles.builder.matches_after": "位用户符合条件",
    "profiles.builder.sample": "部分用户（按用户 ID 排序）：点击可查看其用户画像。",
    "profiles.builder.rule_json": "规则 JSON",
    "profiles.builder.hint.list": "多个值用逗号分隔",
    "profiles.builder.hint.days_or_date": "几天前（7）或日期（2026-01-31）",
    "profiles.builder.hint.date": "日期，如 1990-05-01",
    "profiles.builder.hint.years": "岁数，如 30",
    "profiles.builder.hint.text": "值",
    "profiles.builder.hint.number": "数字",
    "profiles.op.eq": "等于",
    "profiles.op.ne": "不等于",
    "profiles.op.in": "属于",
    "profiles.op.not_in": "不属于",
    "profiles.op.between": "介于",
    "profiles.op.lt": "<",
    "profiles.op.lte": "≤",
    "profiles.op.gt": ">",
    "profiles.op.gte": "≥",
    "profiles.op.is_set": "有值",
    "profiles.op.not_set": "无值",
    "profiles.op.did": "至少做过一次",
    "profiles.measure.count": "次数",
    "profiles.measure.sum": "总和",
    "profiles.measure.avg": "平均值",
    "profiles.measure.max": "最大值",
    "profiles.measure.min": "最小值",
    "profiles.measure.first_time": "首次发生（日）",
    "profiles.measure.last_time": "最近一次（日）",
    "profiles.trait.user_id": "用户 ID",
    "profiles.trait.channel": "渠道",
    "profiles.trait.gender": "性别",
    "profiles.trait.province": "省份",
    "profiles.trait.city": "城市",
    "profiles.trait.occupation": "职业",
    "profiles.trait.phone": "手机号",
    "profiles.trait.email": "邮箱",
    "profiles.trait.birthday": "生日",
    "profiles.trait.created_at": "注册时间",
    "profiles.trait.age": "年龄",
    "profiles.trait.updated_at": "更新时间",
    "profiles.users.search": "用户 ID、手机号或邮箱",
    "profiles.users.placeholder": "u001、13800001234 或 name@example.com",
    "profiles.users.find": "查找",
    "profiles.users.help_masked": "用户 ID 按前缀匹配；手机号和邮箱需完整输入，且脱敏显示。",
    "profiles.users.help_admin": "用户 ID、手机号、邮箱均按前缀匹配。",
    "profiles.users.none": "没有找到 {q}。",
    "profiles.user.title": "用户 {user}",
    "profiles.user.traits": "基础属性",
    "profiles.user.masked": "手机号和邮箱已脱敏，仅管理员可见完整信息。",
    "profiles.user.no_traits": "仅从行为事件中得知，没有属性。",
    "profiles.user.custom_traits": "其他属性",
    "profiles.user.rfm": "RFM",
    "profiles.user.no_rfm": "RFM 窗口内没有消费。",
    "profiles.user.score.r": "R（最近消费）",
    "profiles.user.score.f": "F（消费频率）",
    "profiles.user.score.m": "M（消费金额）",
    "profiles.user.history": "阶段与等级变化",
    "profiles.user.no_history": "还没有快照。",
    "profiles.user.tags": "标签",
    "profiles.user.no_tags": "还没有标签。",
    "profiles.user.since": "自 {at} 起为此值",
    "profiles.user.timeline": "行为事件",
    "profiles.user.when": "时间",
    "profiles.user.event": "事件",
    "profiles.user.revenue": "金额",
    "profiles.user.properties": "属性",
    "profiles.user.no_events": "没有事件。",
    "profiles.user.newer": "较新",
    "profiles.user.older": "较早",
    "profiles.user.page": "第 {n} 页",
    "profiles.user.loading_membership": "正在加载积分与等级…",
}

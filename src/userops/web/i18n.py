"""The console's two languages, zh-CN and English: one catalogue per locale and the choice of
locale for a request (the language cookie, else Accept-Language, else English).

Templates call `t("key")` (or `t("key", name=value)` for `{name}` placeholders). A key missing from
a catalogue shows as the key itself, and a test checks that both catalogues hold the same keys
and every key the templates use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

Locale = str
LOCALES: Final[tuple[Locale, ...]] = ("zh-CN", "en")
DEFAULT_LOCALE: Final = "en"
LANG_COOKIE: Final = "userops_lang"

EN: Final[dict[str, str]] = {
    "app.name": "userops",
    "app.tagline": "User operations",
    "lang.name": "English",
    "lang.switch": "Language",
    "nav.main": "Main navigation",
    "nav.overview": "Overview",
    "nav.analytics": "Analytics",
    "nav.profiles": "Profiles & segments",
    "nav.membership": "Membership",
    "nav.campaigns": "Campaigns",
    "nav.coming": "coming",
    "nav.admin": "Administration",
    "nav.operators": "Operators",
    "nav.audit": "Audit log",
    "nav.keys": "Write keys",
    "nav.logout": "Log out",
    "nav.signed_in_as": "Signed in as {name}",
    "role.admin": "Admin",
    "role.operator": "Operator",
    "role.analyst": "Analyst",
    "role.viewer": "Viewer",
    "login.title": "Sign in",
    "login.intro": "Sign in to the userops console.",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Wrong username or password, or the account is deactivated.",
    "login.throttled": "Too many failed attempts. Wait a few minutes and try again.",
    "login.expired": "The form had expired. Please sign in again.",
    "login.logged_out": "You have signed out.",
    "logout.title": "Sign out",
    "logout.confirm": "Sign out of the console?",
    "overview.title": "Overview",
    "overview.period": "Last {days} days, {start} to {end} ({tz})",
    "overview.empty": "The warehouse has no events in this period yet. Import events with "
    "`userops import events FILE` or send them to the ingestion API.",
    "overview.chart_label": "{metric}, daily, last {days} days",
    "metric.new_users": "New users",
    "metric.active_users": "Daily active users",
    "metric.paying_users": "Paying users",
    "metric.revenue": "Revenue",
    "metric.retained_d7": "Day-7 retention",
    "metric.total": "total",
    "metric.daily_avg": "daily average",
    "metric.avg": "average",
    "metric.help.new_users": "Users who signed up on the day.",
    "metric.help.active_users": "Distinct users with at least one event on the day.",
    "metric.help.paying_users": "Distinct users with revenue on the day.",
    "metric.help.revenue": "Sum of the revenue of the day's events.",
    "metric.help.retained_d7": "Share of the day's first-time active users active again seven "
    "days later; days less than a week old have no value yet.",
    "metric.no_value": "n/a",
    "admin.operators.title": "Operators",
    "admin.operators.intro": "Accounts that can sign in to the console, and what each may do.",
    "admin.create.title": "Add an operator",
    "admin.create.submit": "Add operator",
    "admin.created": "Operator {name} was added.",
    "admin.role_changed": "{name} is now {role}.",
    "admin.deactivated": "{name} can no longer sign in.",
    "admin.reactivated": "{name} can sign in again.",
    "admin.you": "you",
    "admin.roles_help": "Viewer: sees everything, changes nothing. Analyst: also saves analyses. "
    "Operator: also acts on users (campaigns, points). Admin: also manages accounts and keys.",
    "col.username": "Username",
    "col.display_name": "Display name",
    "col.password": "Password",
    "col.role": "Role",
    "col.status": "Status",
    "col.created": "Created",
    "col.last_login": "Last sign-in",
    "col.actions": "Actions",
    "col.at": "Time",
    "col.actor": "Who",
    "col.action": "Action",
    "col.target": "Target",
    "col.detail": "Detail",
    "status.active": "active",
    "status.inactive": "deactivated",
    "action.change_role": "Change role",
    "action.save": "Save",
    "action.deactivate": "Deactivate",
    "action.reactivate": "Reactivate",
    "keys.title": "Write keys",
    "keys.intro": "Event producers send one of these keys with every call to the ingestion API "
    "(/v1): as the HTTP Basic user name, or as writeKey in the body. Only a key's first "
    "characters are kept in view; revoke a key that leaked.",
    "keys.create.title": "Create a write key",
    "keys.create.name": "What it is for",
    "keys.create.submit": "Create key",
    "keys.new": "Key “{name}” created. Copy it now: it is shown only this once.",
    "keys.revoked": "The key {name} was revoked.",
    "keys.empty": "No write keys yet.",
    "keys.revoke": "Revoke",
    "keys.revoke_confirm": "Revoke this key? Producers using it will be refused.",
    "col.name": "Name",
    "col.prefix": "Key starts with",
    "col.created_by": "Created by",
    "col.last_used": "Last used",
    "status.revoked": "revoked",
    "audit.title": "Audit log",
    "audit.intro": "Who changed what, newest first. Entries are never changed or deleted.",
    "audit.empty": "Nothing has been recorded yet.",
    "audit.newer": "Newer",
    "audit.older": "Older",
    "error.title": "Error {status}",
    "error.forbidden.title": "Not allowed",
    "error.forbidden.body": "Your role ({role}) may not open this page or make this change. "
    "Ask an admin if you need it.",
    "error.csrf.title": "The form had expired",
    "error.csrf.body": "This request did not carry a valid security token. Reload the page "
    "and try again.",
    "error.not_found.title": "Not found",
    "error.not_found.body": "There is no such page.",
    "error.back": "Back to the overview",
    "common.never": "never",
}

ZH_CN: Final[dict[str, str]] = {
    "app.name": "userops",
    "app.tagline": "用户运营平台",
    "lang.name": "简体中文",
    "lang.switch": "语言",
    "nav.main": "主导航",
    "nav.overview": "概览",
    "nav.analytics": "数据分析",
    "nav.profiles": "用户画像与分群",
    "nav.membership": "会员体系",
    "nav.campaigns": "运营活动",
    "nav.coming": "即将推出",
    "nav.admin": "系统管理",
    "nav.operators": "运营人员",
    "nav.audit": "审计日志",
    "nav.keys": "写入密钥",
    "nav.logout": "退出登录",
    "nav.signed_in_as": "当前用户：{name}",
    "role.admin": "管理员",
    "role.operator": "运营",
    "role.analyst": "分析师",
    "role.viewer": "只读",
    "login.title": "登录",
    "login.intro": "登录 userops 控制台。",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.failed": "用户名或密码错误，或账号已停用。",
    "login.throttled": "失败次数过多，请几分钟后再试。",
    "login.expired": "表单已过期，请重新登录。",
    "login.logged_out": "您已退出登录。",
    "logout.title": "退出登录",
    "logout.confirm": "确定退出控制台吗？",
    "overview.title": "概览",
    "overview.period": "最近 {days} 天：{start} 至 {end}（{tz}）",
    "overview.empty": "数据仓库在此期间还没有事件。请用 `userops import events FILE` "
    "导入事件，或通过采集接口上报。",
    "overview.chart_label": "{metric}，按天，最近 {days} 天",
    "metric.new_users": "新增用户",
    "metric.active_users": "日活跃用户",
    "metric.paying_users": "付费用户",
    "metric.revenue": "收入",
    "metric.retained_d7": "7日留存率",
    "metric.total": "合计",
    "metric.daily_avg": "日均",
    "metric.avg": "平均",
    "metric.help.new_users": "当天注册的用户数。",
    "metric.help.active_users": "当天至少有一条事件的去重用户数。",
    "metric.help.paying_users": "当天有收入的去重用户数。",
    "metric.help.revenue": "当天事件收入之和。",
    "metric.help.retained_d7": "当天首次活跃的用户中，7 天后再次活跃的比例；"
    "不满一周的日期暂无数值。",
    "metric.no_value": "暂无",
    "admin.operators.title": "运营人员",
    "admin.operators.intro": "可以登录控制台的账号，以及各自的权限。",
    "admin.create.title": "添加运营人员",
    "admin.create.submit": "添加",
    "admin.created": "已添加运营人员 {name}。",
    "admin.role_changed": "{name} 的角色已改为{role}。",
    "admin.deactivated": "{name} 已停用，不能再登录。",
    "admin.reactivated": "{name} 已恢复，可以登录。",
    "admin.you": "我",
    "admin.roles_help": "只读：可查看一切，不能修改。分析师：还可保存分析。"
    "运营：还可对用户执行操作（活动、积分）。管理员：还可管理账号和密钥。",
    "col.username": "用户名",
    "col.display_name": "显示名称",
    "col.password": "密码",
    "col.role": "角色",
    "col.status": "状态",
    "col.created": "创建时间",
    "col.last_login": "最近登录",
    "col.actions": "操作",
    "col.at": "时间",
    "col.actor": "操作人",
    "col.action": "动作",
    "col.target": "对象",
    "col.detail": "详情",
    "status.active": "正常",
    "status.inactive": "已停用",
    "action.change_role": "修改角色",
    "action.save": "保存",
    "action.deactivate": "停用",
    "action.reactivate": "恢复",
    "keys.title": "写入密钥",
    "keys.intro": "事件上报方在每次调用采集接口（/v1）时携带其中一个密钥："
    "作为 HTTP Basic 用户名，或在请求体中作为 writeKey。页面只显示密钥开头几位；密钥泄露时请撤销。",
    "keys.create.title": "创建写入密钥",
    "keys.create.name": "用途",
    "keys.create.submit": "创建密钥",
    "keys.new": "已创建密钥「{name}」。请立即复制：它只显示这一次。",
    "keys.revoked": "密钥 {name} 已撤销。",
    "keys.empty": "还没有写入密钥。",
    "keys.revoke": "撤销",
    "keys.revoke_confirm": "确定撤销此密钥吗？使用它的上报方将被拒绝。",
    "col.name": "名称",
    "col.prefix": "密钥开头",
    "col.created_by": "创建人",
    "col.last_used": "最近使用",
    "status.revoked": "已撤销",
    "audit.title": "审计日志",
    "audit.intro": "谁在何时修改了什么，最新的在前。记录只增不改。",
    "audit.empty": "还没有任何记录。",
    "audit.newer": "较新",
    "audit.older": "较早",
    "error.title": "错误 {status}",
    "error.forbidden.title": "无权访问",
    "error.forbidden.body": "您的角色（{role}）不能打开此页面或执行此操作。"
    "如有需要，请联系管理员。",
    "error.csrf.title": "表单已过期",
    "error.csrf.body": "此请求没有携带有效的安全令牌。请刷新页面后重试。",
    "error.not_found.title": "页面不存在",
    "error.not_found.body": "没有这个页面。",
    "error.back": "返回概览",
    "common.never": "从未",
}

CATALOGUES: Final[dict[Locale, dict[str, str]]] = {"en": EN, "zh-CN": ZH_CN}

Translator = Callable[..., str]


def translator(locale: Locale) -> Translator:
    """`t(key, **values)` for one locale; a missing key shows as itself."""
    catalogue = CATALOGUES.get(locale, EN)

    def t(key: str, **values: object) -> str:
        text = catalogue.get(key, key)
        return text.format(**values) if values else text

    return t


def _from_tag(tag: str) -> Locale | None:
    tag = tag.strip().lower()
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def parse_accept_language(header: str | None) -> Locale | None:
    """The supported locale the browser prefers most, by q-value then order; None if none."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and tag.strip():
            weighted.append((-quality, position, tag))
    for _, _, tag in sorted(weighted):
        locale = _from_tag(tag)
        if locale is not None:
            return locale
    return None


def choose_locale(cookie: str | None, accept_language: str | None) -> Locale:
    """The language cookie when it names a locale, else the browser's preference, else English."""
    if cookie in CATALOGUES:
        return cookie
    return parse_accept_language(accept_language) or DEFAULT_LOCALE

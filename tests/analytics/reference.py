"""Every metric computed the straightforward way: loops, sets and dicts over the generated world.

Nothing here imports userops: periods, filters and definitions are written out again from
docs/metrics.md, so a shared mistake would have to be made twice. Each function returns the
metric's JSON, to be compared whole with `.as_json()`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.analytics.data import World

Traits = dict[str, Any]
Props = dict[str, Any]
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Case:
    """One filter combination: as the operator writes it, and as a plain predicate."""

    name: str
    where: tuple[str, ...] = ()
    trait: Callable[[Traits], bool] = lambda t: True
    prop: Callable[[Props], bool] = lambda p: True
    by: str | None = None
    tags: tuple[str, ...] = field(default=())

    def group(self, traits: Traits) -> str | None:
        if self.by is None:
            return None
        return traits.get(self.by.removeprefix("trait."))


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


CASES = [
    Case("all"),
    Case(
        "channel-in-and-category",
        ("channel=referral,social", "prop.category=shoes"),
        trait=lambda t: t.get("channel") in ("referral", "social"),
        prop=lambda p: p.get("category") == "shoes",
        by="city",
    ),
    Case(
        "not-city-and-os-set",
        ("city!=上海", "trait.device_os is set"),
        trait=lambda t: t.get("city") != "上海" and t.get("device_os") is not None,
        by="trait.device_os",
    ),
    Case(
        "price-and-no-gender",
        ("prop.price>=65", "gender is not set"),
        trait=lambda t: t.get("gender") is None,
        prop=lambda p: (_num(p.get("price")) or -1) >= 65,
    ),
    Case(
        "by-channel-not-in",
        ("channel!=unknown,paid_search", "prop.flag!=true"),
        trait=lambda t: t.get("channel") not in ("unknown", "paid_search"),
        prop=lambda p: p.get("flag") is not True,
        by="channel",
    ),
]


# --- periods, written out again ---------------------------------------------------------------


def start_of(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return date(day.year, day.month, 1)
    return day


def after(start: date, period: str, k: int = 1) -> date:
    if period == "day":
        return start + timedelta(days=k)
    if period == "week":
        return start + timedelta(days=7 * k)
    y, m = divmod(start.year * 12 + start.month - 1 + k, 12)
    return date(y, m + 1, 1)


def widened(start: date, end: date, period: str) -> tuple[date, date]:
    return start_of(start, period), after(start_of(end, period), period) - timedelta(days=1)


def starts(first: date, last: date, period: str) -> list[date]:
    out, d = [], start_of(first, period)
    while d <= last:
        out.append(d)
        d = after(d, period)
    return out


def periods_between(a: date, b: date, period: str) -> int:
    """How many periods after a's period b's period is."""
    a, b = start_of(a, period), start_of(b, period)
    if period == "month":
        return (b.year - a.year) * 12 + b.month - a.month
    return (b - a).days // (7 if period == "week" else 1)


def ordered(groups: Iterable[str | None]) -> list[str | None]:
    s = set(groups)
    return sorted(g for g in s if g is not None) + ([None] if None in s else [])


def rate(a: float | Decimal, b: float | Decimal) -> float | None:
    return round(float(a) / float(b), 4) if b else None


def money(x: Decimal) -> str:
    return str(x.quantize(CENT, rounding=ROUND_HALF_UP))


def per(x: Decimal, n: int) -> str | None:
    return money(x / n) if n else None


# --- the events a case looks at ------------------------------------------------------------------


def rows(
    w: World, case: Case, *, event: str | None = None, until: date | None = None
) -> list[dict[str, Any]]:
    out = []
    for r in w.events.to_dict("records"):
        if event is not None and r["event"] != event:
            continue
        if until is not None and r["day"] > until:
            continue
        if not case.prop(r["props"]):
            continue
        out.append(r)
    return out


def passes(w: World, case: Case, uid: str) -> bool:
    return case.trait(w.traits(uid))


def with_group(row: dict[str, Any], case: Case, group: str | None) -> dict[str, Any]:
    return {**row, "group": group} if case.by is not None else row


def framed(out: dict[str, Any], case: Case) -> dict[str, Any]:
    if case.by is not None:
        out["by"] = case.by
    return out


# --- activity -----------------------------------------------------------------------------------


def active(
    w: World, case: Case, period: str, start: date, end: date, event: str | None = None
) -> dict[str, Any]:
    first, last = widened(start, end, period)
    sets: dict[tuple[str | None, date], set[str]] = defaultdict(set)
    for r in rows(w, case, event=event):
        if first <= r["day"] <= last and passes(w, case, r["uid"]):
            sets[(case.group(w.traits(r["uid"])), start_of(r["day"], period))].add(r["uid"])
    groups = ordered(g for g, _ in sets) if case.by else [None]
    series = [
        with_group({"date": d.isoformat(), "active": len(sets[(g, d)])}, case, g)
        for g in groups
        for d in starts(first, last, period)
    ]
    return framed({"period": period, "series": series}, case)


def stickiness(w: World, case: Case, start: date, end: date) -> dict[str, Any]:
    daily: dict[tuple[str | None, date], set[str]] = defaultdict(set)
    for r in rows(w, case):
        if passes(w, case, r["uid"]):
            daily[(case.group(w.traits(r["uid"])), r["day"])].add(r["uid"])
    in_reach = {g for g, d in daily if start - timedelta(days=29) <= d <= end}
    groups = ordered(in_reach) if case.by else [None]
    series = []
    for g in groups:
        d = start
        while d <= end:

            def users(n: int, g: str | None = g, d: date = d) -> int:
                return len(set().union(*[daily[(g, d - timedelta(days=i))] for i in range(n)]))

            dau, wau, mau = users(1), users(7), users(30)
            row = {
                "date": d.isoformat(),
                "dau": dau,
                "wau": wau,
                "mau": mau,
                "stickiness": rate(dau, mau),
            }
            series.append(with_group(row, case, g))
            d += timedelta(days=1)
    return framed({"series": series}, case)


def new_users(w: World, case: Case, period: str, start: date, end: date) -> dict[str, Any]:
    first, last = widened(start, end, period)
    counts: dict[tuple[str | None, date], int] = defaultdict(int)
    for uid in w.users:
        day = w.signup_day(uid)
        if day is not None and first <= day <= last and passes(w, case, uid):
            counts[(case.group(w.traits(uid)), start_of(day, period))] += 1
    groups = ordered(g for g, _ in counts) if case.by else [None]
    series = [
        with_group({"date": d.isoformat(), "new_users": counts[(g, d)]}, case, g)
        for g in groups
        for d in starts(first, last, period)
    ]
    return framed({"period": period, "series": series}, case)


# --- retention ----------------------------------------------------------------------------------


def retention(
    w: World,
    case: Case,
    period: str,
    periods: int,
    start: date,
    end: date,
    *,
    basis: str = "first_activity",
    return_event: str | None = None,
    unbounded: bool = False,
) -> dict[str, Any]:
    first, last = widened(start, end, period)
    start_day: dict[str, date] = {}
    if basis == "first_activity":
        for r in rows(w, case, until=last):
            if r["uid"] not in start_day or r["day"] < start_day[r["uid"]]:
                start_day[r["uid"]] = r["day"]
        start_day = {u: d for u, d in start_day.items() if d >= first and passes(w, case, u)}
    else:
        for uid in w.users:
            day = w.signup_day(uid)
            if day is not None and first <= day <= last and passes(w, case, uid):
                start_day[uid] = day
    seen: dict[str, set[date]] = defaultdict(set)
    for r in rows(w, case, event=return_event, until=last):
        if r["day"] >= first:
            seen[r["uid"]].add(r["day"])
    cohorts: dict[tuple[str | None, date], list[str]] = defaultdict(list)
    for uid, day in start_day.items():
        cohorts[(case.group(w.traits(uid)), start_of(day, period))].append(uid)
    groups = ordered(g for g, _ in cohorts) if case.by else [None]
    out = []
    for g in groups:
        for c in starts(first, last, period):
            members = cohorts.get((g, c), [])
            reach = min(periods, periods_between(c, end, period))
            retained = []
            for k in range(reach + 1):

                def back(uid: str, k: int = k, c: date = c) -> bool:
                    ks = {periods_between(c, d, period) for d in seen[uid]}
                    return any(x >= k for x in ks) if unbounded else k in ks

                retained.append(sum(1 for u in members if back(u)))
            row = {"cohort": c.isoformat(), "size": len(members), "retained": retained}
            out.append(with_group(row, case, g))
    return framed({"period": period, "cohorts": out}, case)


# --- revenue ------------------------------------------------------------------------------------


def _figures(per_user: dict[str, tuple[int, Decimal]]) -> dict[str, Any]:
    active_n = len(per_user)
    payers = [u for u, (n, _) in per_user.items() if n > 0]
    revenue = sum((r for _, r in per_user.values()), Decimal("0.00"))
    orders = sum(n for n, _ in per_user.values())
    again = sum(1 for n, _ in per_user.values() if n >= 2)
    return {
        "active_users": active_n,
        "paying_users": len(payers),
        "paying_rate": rate(len(payers), active_n),
        "revenue": money(revenue),
        "orders": orders,
        "arpu": per(revenue, active_n),
        "arppu": per(revenue, len(payers)),
        "aov": per(revenue, orders),
        "repurchase_rate": rate(again, len(payers)),
    }


def revenue(
    w: World, case: Case, period: str, start: date, end: date, within: int = 7
) -> dict[str, Any]:
    first, last = widened(start, end, period)
    before = after(first, period, -1)
    usage: dict[tuple[str | None, date], dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    whole: dict[str | None, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    for r in rows(w, case, until=last):
        if r["day"] < before or not passes(w, case, r["uid"]):
            continue
        g = case.group(w.traits(r["uid"]))
        paid = r["revenue"] is not None and r["revenue"] > 0
        add = (1, r["revenue"]) if paid else (0, Decimal(0))
        for bucket, key in ((usage[(g, start_of(r["day"], period))], r["uid"]),) + (
            ((whole[g], r["uid"]),) if r["day"] >= first else ()
        ):
            n, s = bucket.get(key, (0, Decimal("0.00")))
            bucket[key] = (n + add[0], s + add[1])
    new: dict[str | None, int] = defaultdict(int)
    converted: dict[str | None, int] = defaultdict(int)
    buys = [r for r in rows(w, case, until=last) if r["revenue"] is not None and r["revenue"] > 0]
    for uid, traits in w.users.items():
        day = w.signup_day(uid)
        if day is None or not first <= day <= last or not passes(w, case, uid):
            continue
        g = case.group(traits)
        new[g] += 1
        deadline = traits["created_at"] + timedelta(days=within)
        if any(r["uid"] == uid and r["ts"] < deadline for r in buys):
            converted[g] += 1
    groups = ordered({g for g, _ in usage} | set(new)) if case.by else [None]
    series = []
    for g in groups:
        for d in starts(first, last, period):
            now, prev = usage.get((g, d), {}), usage.get((g, after(d, period, -1)), {})
            gone = len(set(prev) - set(now))
            row = {
                "date": d.isoformat(),
                **_figures(now),
                "churned_users": gone,
                "churn_rate": rate(gone, len(prev)),
            }
            series.append(with_group(row, case, g))

    def summary(gs: list[str | None]) -> dict[str, Any]:
        merged = {u: v for g in gs for u, v in whole.get(g, {}).items()}
        n, c = sum(new[g] for g in gs), sum(converted[g] for g in gs)
        return {
            **_figures(merged),
            "new_users": n,
            "first_purchase_days": within,
            "first_purchase_users": c,
            "first_purchase_rate": rate(c, n),
        }

    out = {"period": period, "summary": summary(groups), "series": series}
    if case.by is not None:
        out["by"] = case.by
        out["groups"] = [{"group": g, **summary([g])} for g in groups]
    return out


# --- channels -----------------------------------------------------------------------------------


def channels(
    w: World,
    case: Case,
    start: date,
    end: date,
    *,
    activation_event: str | None = None,
    activation_days: int = 7,
    retention_days: tuple[int, ...] = (1, 7, 30),
    ltv_days: tuple[int, ...] = (0, 7, 30, 60, 90),
) -> dict[str, Any]:
    by = case.by or "channel"
    key = by.removeprefix("trait.")
    events = rows(w, case, until=end)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in events:
        by_user[r["uid"]].append(r)
    cohort: dict[str | None, list[str]] = defaultdict(list)
    for uid, traits in w.users.items():
        day = w.signup_day(uid)
        if day is not None and start <= day <= end and passes(w, case, uid):
            cohort[traits.get(key)].append(uid)
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for d, channel, amount in w.costs:
        if start <= d <= end:
            spend[channel] += amount

    def row(group: str | None, users: list[str], cost: Decimal | None) -> dict[str, Any]:
        activated = paying = 0
        revenue = Decimal("0.00")
        kept = {n: [0, 0] for n in retention_days}
        ltv = {a: [0, Decimal("0.00")] for a in ltv_days}
        for uid in users:
            created = w.traits(uid)["created_at"]
            sday = w.signup_day(uid)
            assert sday is not None
            mine = by_user[uid]
            if any(
                (
                    r["event"] == activation_event
                    if activation_event
                    else r["type"] not in ("identify", "alias")
                )
                and created <= r["ts"] < created + timedelta(days=activation_days)
                for r in mine
            ):
                activated += 1
            days = {r["day"] for r in mine}
            for n in retention_days:
                if sday + timedelta(days=n) <= end:
                    kept[n][0] += 1
                    kept[n][1] += (sday + timedelta(days=n)) in days
            buys = [r for r in mine if r["revenue"] is not None and r["revenue"] > 0]
            paying += bool(buys)
            revenue += sum((r["revenue"] for r in buys), Decimal("0.00"))
            for a in ltv_days:
                if sday + timedelta(days=a) <= end:
                    ltv[a][0] += 1
                    ltv[a][1] += sum(
                        (r["revenue"] for r in buys if r["day"] <= sday + timedelta(days=a)),
                        Decimal("0.00"),
                    )
        n = len(users)
        return {
            "group": group,
            "new_users": n,
            "activated_users": activated,
            "activation_rate": rate(activated, n),
            "retention": {f"d{d}": rate(kept[d][1], kept[d][0]) for d in retention_days},
            "paying_users": paying,
            "paying_rate": rate(paying, n),
            "revenue": money(revenue),
            "revenue_per_user": per(revenue, n),
            "ltv": [
                {"age_days": a, "users": ltv[a][0], "revenue_per_user": per(ltv[a][1], ltv[a][0])}
                for a in ltv_days
            ],
            "cost": money(cost) if cost is not None else None,
            "cac": per(cost, n) if cost is not None else None,
            "roi": rate(revenue - cost, cost) if cost is not None else None,
        }

    groups = ordered(cohort)
    costs_known = by == "channel" and bool(spend)
    everyone = [u for g in groups for u in cohort[g]]
    total_cost = sum(spend.values(), Decimal("0.00")) if costs_known else None
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": by,
        "activation_event": activation_event,
        "activation_days": activation_days,
        "groups": [
            row(g, cohort[g], spend[g] if costs_known and g in spend else None) for g in groups
        ],
        "total": row(None, everyone, total_cost),
    }


# --- lifecycle ----------------------------------------------------------------------------------


def lifecycle(
    w: World, case: Case, period: str, start: date, end: date, event: str | None = None
) -> dict[str, Any]:
    first, last = widened(start, end, period)
    seen: dict[str, set[date]] = defaultdict(set)
    for r in rows(w, case, event=event, until=last):
        if passes(w, case, r["uid"]):
            seen[r["uid"]].add(start_of(r["day"], period))
    counts: dict[tuple[str | None, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for uid, ps in seen.items():
        g = case.group(w.traits(uid))
        for p in starts(first, last, period):
            prev = after(p, period, -1)
            if p in ps:
                if min(ps) == p:
                    counts[(g, p)]["new"] += 1
                elif prev in ps:
                    counts[(g, p)]["returning"] += 1
                else:
                    counts[(g, p)]["resurrecting"] += 1
            elif prev in ps:
                counts[(g, p)]["dormant"] += 1
    groups = ordered(g for g, _ in counts) if case.by else [None]
    series = []
    for g in groups:
        for p in starts(first, last, period):
            c = counts.get((g, p), {})
            row = {
                "date": p.isoformat(),
                **{s: c.get(s, 0) for s in ("new", "returning", "resurrecting", "dormant")},
            }
            series.append(with_group(row, case, g))
    return framed({"period": period, "series": series}, case)

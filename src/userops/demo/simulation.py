"""From people and their habits to events, one chunk of people at a time, without a loop per event.

A chunk works in three steps. Days: a (people x days) matrix of the chance to open the app
(habit, novelty after signup, weekday, the sale, dormancy after a user's lifetime) is drawn once
to get active days. Sessions: each active day gets one or more sessions at a time of day that
follows the hourly curve. Events: each session expands into searches, item views, carts from
those views, maybe a purchase of the cart, shares and invites, with offsets that keep their
order (open < search < view < cart < purchase) and keep the whole session inside its local day.

Signup adds its own events: an `identify` linking the device to the new user id, often an
anonymous `app_open` minutes before, sometimes anonymous browsing days before, and for referral
users the referrer's `invite` naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from userops.demo.calendar import WEEKDAY_ACTIVITY, Window, time_of_day_ms
from userops.demo.catalog import CATEGORIES, Catalog
from userops.demo.encode import join, prefixed_ids, yuan
from userops.demo.population import (
    APP_VERSIONS,
    CHANNELS,
    DORMANT_RETURN,
    OS_NAMES,
    SESSION_SPAN_MS,
    Behaviour,
    Population,
    Visitors,
)

IDENTIFY: Final = 0
APP_OPEN: Final = 1
SEARCH: Final = 2
VIEW_ITEM: Final = 3
ADD_TO_CART: Final = 4
PURCHASE: Final = 5
SHARE: Final = 6
INVITE: Final = 7
# Index = event code; identify has no event name.
EVENT_NAMES: Final[tuple[str | None, ...]] = (
    None,
    "app_open",
    "search",
    "view_item",
    "add_to_cart",
    "purchase",
    "share",
    "invite",
)

# Engaged users add to cart 2.5 times as readily in their first week; casual users never do
# in their first eight local days. This is the planted churn predictor (see docs/demo-data.md).
EARLY_DAYS: Final = 8
EARLY_CART_ENGAGED: Final = 2.5
DORMANT_CART: Final = 0.6
WEEKEND_PURCHASE: Final = 1.1
FAVOURITE_SHARE: Final = 0.55  # share of views and searches in the user's favourite category
MAX_VIEWS: Final = 30
MAX_SEARCHES: Final = 5
QUANTITY_P: Final = np.array([0.82, 0.14, 0.04])  # quantity 1, 2, 3 per order line
SHARE_TARGETS: Final[tuple[str, ...]] = ("wechat_friend", "wechat_moments", "weibo")
INVITE_METHODS: Final[tuple[str, ...]] = ("wechat", "invite_link", "poster")
_INVITE_PROPS: Final = pa.array([f'{{"method":"{m}"}}' for m in INVITE_METHODS], pa.string())
_EMPTY_OBJECT: Final = pa.array(["{}"], pa.string())


def _fen_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass(frozen=True, slots=True)
class Texts:
    """JSON fragments built once per run and picked per event with `take`."""

    item_props: pa.Array  # view_item / add_to_cart properties per item
    line_prefix: pa.Array  # an order line up to the quantity
    share_prefix: pa.Array
    query_props: pa.Array
    identify_props: pa.Array  # per channel
    context: pa.Array  # per (os, version, channel) code
    item_id: pa.Array
    category: pa.Array  # per item
    price_text: pa.Array  # per item
    user_ids: pa.Array
    order_prefix: str


def build_texts(catalog: Catalog, user_ids: pa.Array, run_tag: str) -> Texts:
    items = []
    lines = []
    shares = []
    for i in range(catalog.size):
        head = (
            f'"item_id":"{catalog.item_id[i]}","category":"{CATEGORIES[catalog.category[i]].name}"'
        )
        price = _fen_text(int(catalog.price_fen[i]))
        items.append(f'{{{head},"price":{price}}}')
        lines.append(f'{{{head},"price":{price},"quantity":')
        shares.append(f'{{{head},"target":"')
    contexts = [
        f'{{"app":{{"version":"{v}"}},"os":{{"name":"{os}"}},"channel":"{c.name}"}}'
        for os in OS_NAMES
        for v in APP_VERSIONS
        for c in CHANNELS
    ]
    return Texts(
        item_props=pa.array(items, pa.string()),
        line_prefix=pa.array(lines, pa.string()),
        share_prefix=pa.array(shares, pa.string()),
        query_props=pa.array([f'{{"query":"{q}"}}' for q in catalog.queries], pa.string()),
        identify_props=pa.array([f'{{"channel":"{c.name}"}}' for c in CHANNELS], pa.string()),
        context=pa.array(contexts, pa.string()),
        item_id=pa.array(catalog.item_id, pa.string()),
        category=pa.array([CATEGORIES[c].name for c in catalog.category], pa.string()),
        price_text=pa.array([_fen_text(int(f)) for f in catalog.price_fen], pa.string()),
        user_ids=user_ids,
        order_prefix=f"ORD-{run_tag}-",
    )


@dataclass(frozen=True, slots=True)
class RawEvents:
    """One chunk's events as columns, sorted by person then time."""

    person: npt.NDArray[np.int64]
    has_user: npt.NDArray[np.bool_]
    has_anon: npt.NDArray[np.bool_]
    ts_ms: npt.NDArray[np.int64]
    code: npt.NDArray[np.int8]
    context: npt.NDArray[np.int64]  # index into Texts.context
    properties: pa.Array

    def __len__(self) -> int:
        return len(self.ts_ms)


@dataclass(slots=True)
class _Parts:
    """Events collected type by type. Properties are kept as (table, row) pairs and only
    materialised once, in final order, so a view's JSON is copied once, not three times."""

    person: list[npt.NDArray[np.int64]] = field(default_factory=list)
    has_user: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    has_anon: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    ts: list[npt.NDArray[np.int64]] = field(default_factory=list)
    code: list[npt.NDArray[np.int8]] = field(default_factory=list)
    prop_row: list[npt.NDArray[np.int64]] = field(default_factory=list)
    tables: list[pa.Array] = field(default_factory=list)
    orders: int = 0

    def add(
        self,
        code: int,
        person: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        props: tuple[pa.Array, npt.NDArray[np.int64] | None],
        has_user: npt.NDArray[np.bool_],
        has_anon: npt.NDArray[np.bool_] | bool = True,
    ) -> None:
        """`props` is (table, row of each event), or (one string per event, None)."""
        n = len(person)
        if n == 0:
            return
        table, rows = props
        base = self._base(table)
        self.person.append(person)
        self.ts.append(ts)
        self.code.append(np.full(n, code, dtype=np.int8))
        self.has_user.append(has_user)
        self.has_anon.append(np.broadcast_to(np.asarray(has_anon, dtype=np.bool_), (n,)))
        self.prop_row.append(base + (np.arange(n, dtype=np.int64) if rows is None else rows))

    def _base(self, table: pa.Array) -> int:
        base = 0
        for known in self.tables:
            if known is table:
                return base
            base += len(known)
        self.tables.append(table)
        return base

    def finish(self, behaviour: Behaviour, window: Window) -> RawEvents:
        if not self.ts:
            empty = np.zeros(0, dtype=np.int64)
            none = np.zeros(0, dtype=np.bool_)
            return RawEvents(
                empty, none, none, empty, np.zeros(0, np.int8), empty, pa.array([], pa.string())
            )
        person = np.concatenate(self.person)
        ts = np.concatenate(self.ts)
        order = _by_person_then_time(person, ts - window.start_ms, window.end_ms - window.start_ms)
        person, ts = person[order], ts[order]
        tables = pa.concat_arrays([t.cast(pa.string()) for t in self.tables])
        props = tables.take(pa.array(np.concatenate(self.prop_row)[order]))
        return RawEvents(
            person=person,
            has_user=np.concatenate(self.has_user)[order],
            has_anon=np.concatenate(self.has_anon)[order],
            ts_ms=ts,
            code=np.concatenate(self.code)[order],
            context=_context_codes(behaviour, window, person, ts),
            properties=props,
        )


def _by_person_then_time(
    person: npt.NDArray[np.int64], offset: npt.NDArray[np.int64], span: int
) -> npt.NDArray[np.int64]:
    """Stable order by (person, time): one sort of a packed key when it fits in 63 bits
    (three times faster than lexsort), lexsort otherwise."""
    low = person.min()
    time_bits = max(int(span).bit_length(), 1)
    if (int(person.max() - low) + 1).bit_length() + time_bits <= 63:
        key = ((person - low) << time_bits) | offset
        return np.argsort(key, kind="stable")
    return np.lexsort((offset, person))


def _context_codes(
    behaviour: Behaviour, window: Window, person: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """App version at each event: releases a third and two thirds into the window, each
    person upgrading after their own lag."""
    releases = window.start_ms + np.array([window.days // 3, (2 * window.days) // 3]) * 86_400_000
    version = np.searchsorted(releases, ts - behaviour.version_lag_ms[person], side="right")
    n_versions, n_channels = len(APP_VERSIONS), len(CHANNELS)
    code = (behaviour.os[person] * n_versions + version) * n_channels + behaviour.channel[person]
    return code.astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Sessions:
    person: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    has_user: npt.NDArray[np.bool_]
    app_open: npt.NDArray[np.bool_]
    social: npt.NDArray[np.bool_]  # may share and invite (signed-in sessions)
    view_scale: npt.NDArray[np.float64]
    cart_scale: npt.NDArray[np.float64]
    purchase_scale: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.start)


def _concat_sessions(parts: list[_Sessions]) -> _Sessions:
    return _Sessions(
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in _Sessions.__dataclass_fields__
        }
    )


def _within(counts: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For groups of the given sizes: each member's group and its rank inside the group."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(len(group)) - starts[group]


_CATEGORY_POPULARITY: Final = np.cumsum([c.popularity for c in CATEGORIES]) / sum(
    c.popularity for c in CATEGORIES
)


def _categories(
    rng: np.random.Generator, favourite: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    own = rng.random(len(favourite)) < FAVOURITE_SHARE
    other = np.minimum(
        np.searchsorted(_CATEGORY_POPULARITY, rng.random(len(favourite)), side="right"),
        len(CATEGORIES) - 1,
    )
    return np.where(own, favourite, other).astype(np.int64)


def _realise(
    rng: np.random.Generator,
    s: _Sessions,
    behaviour: Behaviour,
    catalog: Catalog,
    texts: Texts,
    out: _Parts,
) -> None:
    """Expand sessions into their events (see the module docstring for the order)."""
    n = len(s)
    if n == 0:
        return
    p = s.person
    n_search = np.minimum(rng.poisson(behaviour.search_mu[p]), MAX_SEARCHES)
    n_view = np.minimum(rng.poisson(behaviour.view_mu[p] * s.view_scale), MAX_VIEWS)
    browse_start = s.start + 10_000 + n_search * 25_000
    browse_end = browse_start + n_view * 45_000

    opened = np.flatnonzero(s.app_open)
    out.add(
        APP_OPEN,
        p[opened],
        s.start[opened],
        (_EMPTY_OBJECT, np.zeros(len(opened), np.int64)),
        s.has_user[opened],
    )

    sess, rank = _within(n_search)
    cat = _categories(rng, behaviour.favourite[p[sess]])
    query = catalog.pick_queries(cat, rng.random(len(sess)))
    ts = s.start[sess] + 3_000 + rank * 25_000 + rng.integers(0, 20_000, len(sess))
    out.add(SEARCH, p[sess], ts, (texts.query_props, query), s.has_user[sess])

    vsess, vrank = _within(n_view)
    cat = _categories(rng, behaviour.favourite[p[vsess]])
    item = catalog.pick_items(cat, rng.random(len(vsess)))
    view_ts = browse_start[vsess] + vrank * 45_000 + rng.integers(0, 40_000, len(vsess))
    out.add(VIEW_ITEM, p[vsess], view_ts, (texts.item_props, item), s.has_user[vsess])

    carted = rng.random(len(vsess)) < behaviour.cart_p[p[vsess]] * s.cart_scale[vsess]
    cart_sess, cart_item = vsess[carted], item[carted]
    cart_ts = view_ts[carted] + rng.integers(2_000, 30_000, len(cart_sess))
    out.add(
        ADD_TO_CART,
        p[cart_sess],
        cart_ts,
        (texts.item_props, cart_item),
        s.has_user[cart_sess],
    )

    _purchases(rng, s, behaviour, catalog, texts, out, cart_sess, cart_item, browse_end)
    _social(rng, s, behaviour, texts, out, n_view, vsess, item, browse_end)


def _purchases(
    rng: np.random.Generator,
    s: _Sessions,
    behaviour: Behaviour,
    catalog: Catalog,
    texts: Texts,
    out: _Parts,
    cart_sess: npt.NDArray[np.int64],
    cart_item: npt.NDArray[np.int64],
    browse_end: npt.NDArray[np.int64],
) -> None:
    """A session with a cart may end in one order of everything carted in it."""
    with_cart = np.unique(cart_sess)
    chance = behaviour.purchase_p[s.person[with_cart]] * s.purchase_scale[with_cart]
    buying = with_cart[rng.random(len(with_cart)) < chance]
    if len(buying) == 0:
        return
    # Order lines: the carted items of buying sessions, one line per distinct item.
    keep = np.isin(cart_sess, buying)
    line_sess, line_item = cart_sess[keep], cart_item[keep]
    order = np.lexsort((line_item, line_sess))
    line_sess, line_item = line_sess[order], line_item[order]
    first = np.r_[True, (np.diff(line_sess) != 0) | (np.diff(line_item) != 0)]
    line_sess, line_item = line_sess[first], line_item[first]
    quantity = 1 + np.searchsorted(np.cumsum(QUANTITY_P), rng.random(len(line_sess)), side="right")
    quantity = np.minimum(quantity, len(QUANTITY_P)).astype(np.int64)

    price = catalog.price_fen[line_item]
    counts = np.bincount(np.searchsorted(buying, line_sess), minlength=len(buying))
    revenue = np.add.reduceat(price * quantity, np.cumsum(counts) - counts)
    head_line = np.cumsum(counts) - counts  # first line of each order (lifted item_id/category)

    line_text = join(
        texts.line_prefix.take(pa.array(line_item)),
        pa.array(quantity).cast(pa.string()),
        "}",
    )
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
    items_json = pa.ListArray.from_arrays(offsets, line_text)
    items_text = pc.binary_join(items_json, ",")
    order_ids = prefixed_ids(texts.order_prefix, out.orders + np.arange(len(buying)), 9)
    out.orders += len(buying)
    head_item = line_item[head_line]
    props = join(
        '{"order_id":"',
        order_ids,
        '","revenue":',
        yuan(revenue),
        ',"currency":"CNY","item_id":"',
        texts.item_id.take(pa.array(head_item)),
        '","category":"',
        texts.category.take(pa.array(head_item)),
        '","items":[',
        items_text,
        "]}",
    )
    ts = browse_end[buying] + 80_000 + rng.integers(0, 120_000, len(buying))
    out.add(PURCHASE, s.person[buying], ts, (props, None), s.has_user[buying], has_anon=False)


def _social(
    rng: np.random.Generator,
    s: _Sessions,
    behaviour: Behaviour,
    texts: Texts,
    out: _Parts,
    n_view: npt.NDArray[np.int64],
    vsess: npt.NDArray[np.int64],
    item: npt.NDArray[np.int64],
    browse_end: npt.NDArray[np.int64],
) -> None:
    """Shares (of the first item viewed) and invitations nobody has accepted yet."""
    n = len(s)
    sharing = np.flatnonzero(
        s.social & (n_view > 0) & (rng.random(n) < behaviour.share_p[s.person])
    )
    first_view = np.cumsum(n_view) - n_view
    shared_item = item[first_view[sharing]] if len(vsess) else np.zeros(0, np.int64)
    target = rng.integers(0, len(SHARE_TARGETS), len(sharing))
    props = join(
        texts.share_prefix.take(pa.array(shared_item)),
        pa.array(SHARE_TARGETS).take(pa.array(target)),
        '"}',
    )
    ts = browse_end[sharing] + rng.integers(0, 60_000, len(sharing))
    out.add(SHARE, s.person[sharing], ts, (props, None), s.has_user[sharing])

    inviting = np.flatnonzero(s.social & (rng.random(n) < behaviour.invite_p[s.person]))
    method = rng.integers(0, len(INVITE_METHODS), len(inviting))
    ts = browse_end[inviting] + rng.integers(0, 60_000, len(inviting))
    out.add(INVITE, s.person[inviting], ts, (_INVITE_PROPS, method), s.has_user[inviting])


def _signup_events(
    rng: np.random.Generator,
    pop: Population,
    window: Window,
    texts: Texts,
    ids: npt.NDArray[np.int64],
    out: _Parts,
) -> list[_Sessions]:
    """identify at signup, the anonymous lead-in before it and the signup session after it."""
    signup = pop.signup_ms[ids]
    n = len(ids)
    yes = np.ones(n, dtype=np.bool_)
    out.add(IDENTIFY, ids, signup, (texts.identify_props, pop.channel[ids]), yes)

    lead = ids[pop.lead_in[ids]]
    lead_ts = np.maximum(
        pop.signup_ms[lead] - rng.integers(20_000, 600_000, len(lead)), window.start_ms
    )
    out.add(
        APP_OPEN,
        lead,
        lead_ts,
        (_EMPTY_OBJECT, np.zeros(len(lead), np.int64)),
        np.zeros(len(lead), np.bool_),
    )

    day = pop.signup_day[ids]
    engaged = pop.engaged[ids]
    signup_session = _Sessions(
        person=ids,
        start=signup + 1_000,
        has_user=yes,
        app_open=np.zeros(n, np.bool_),
        social=yes,
        view_scale=window.sale.views[day],
        cart_scale=np.where(engaged, EARLY_CART_ENGAGED, 0.0) * window.sale.cart[day],
        purchase_scale=window.sale.purchase[day],
    )

    # Anonymous browsing in the days before signup (only what falls inside the window).
    owner = np.repeat(ids, pop.pre_sessions[ids])
    start = pop.signup_ms[owner] - rng.integers(3_600_000, 72 * 3_600_000, len(owner))
    inside = start >= window.start_ms
    owner, start = owner[inside], start[inside]
    m = len(owner)
    no = np.zeros(m, np.bool_)
    browsing = _Sessions(
        person=owner,
        start=start,
        has_user=no,
        app_open=np.ones(m, np.bool_),
        social=no,
        view_scale=np.ones(m),
        cart_scale=np.zeros(m),
        purchase_scale=np.zeros(m),
    )

    # The referrer's invite naming the new user.
    invited = ids[pop.inviter[ids] >= 0]
    props = join(
        '{"method":"invite_link","invitee":"', texts.user_ids.take(pa.array(invited)), '"}'
    )
    out.add(
        INVITE,
        pop.inviter[invited],
        pop.invite_ms[invited],
        (props, None),
        np.ones(len(invited), np.bool_),
    )
    return [signup_session, browsing]


def _daily_sessions(
    rng: np.random.Generator, pop: Population, window: Window, ids: npt.NDArray[np.int64]
) -> _Sessions:
    """Sessions on the days after signup: habit and novelty while alive, rare returns after."""
    beh = pop.behaviour
    days = np.arange(window.days)
    rel = days[None, :] - pop.signup_day[ids][:, None]
    alive = rel < pop.lifetime_days[ids][:, None]
    novelty = 1.0 + 0.8 * np.exp(-np.maximum(rel - 1, 0) / 3.0)
    weekday = WEEKDAY_ACTIVITY[window.weekday][None, :]
    chance = np.where(
        alive,
        beh.p_active[ids][:, None] * novelty * weekday * window.sale.activity[None, :],
        DORMANT_RETURN * weekday * window.sale.dormant_return[None, :],
    )
    chance[rel < 1] = 0.0
    row, day = np.nonzero(rng.random(chance.shape) < chance)
    person = ids[row]
    per_day = 1 + rng.poisson(beh.extra_sessions[person])
    person, day = np.repeat(person, per_day), np.repeat(day, per_day)
    rel_s = day - pop.signup_day[person]
    alive_s = rel_s < pop.lifetime_days[person]
    early = rel_s < EARLY_DAYS
    cart = np.where(
        early,
        np.where(pop.engaged[person], EARLY_CART_ENGAGED, 0.0),
        np.where(alive_s, 1.0, DORMANT_CART),
    )
    weekend = window.weekday[day] >= 5
    usable = window.day_length_ms - SESSION_SPAN_MS
    n = len(person)
    yes = np.ones(n, np.bool_)
    return _Sessions(
        person=person,
        start=window.day_start_ms[day] + time_of_day_ms(rng, n, usable[day]),
        has_user=yes,
        app_open=yes,
        social=yes,
        view_scale=window.sale.views[day],
        cart_scale=cart * window.sale.cart[day],
        purchase_scale=window.sale.purchase[day] * np.where(weekend, WEEKEND_PURCHASE, 1.0),
    )


def simulate_users(
    rng: np.random.Generator,
    pop: Population,
    behaviour: Behaviour,
    window: Window,
    catalog: Catalog,
    texts: Texts,
    lo: int,
    hi: int,
    first_order: int,
) -> tuple[RawEvents, int]:
    """Events of users lo..hi-1 (and the invites that brought them); returns orders made."""
    ids = np.arange(lo, hi, dtype=np.int64)
    out = _Parts(orders=first_order)
    sessions = _signup_events(rng, pop, window, texts, ids, out)
    sessions.append(_daily_sessions(rng, pop, window, ids))
    _realise(rng, _concat_sessions(sessions), behaviour, catalog, texts, out)
    return out.finish(behaviour, window), out.orders


def simulate_visitors(
    rng: np.random.Generator,
    visitors: Visitors,
    behaviour: Behaviour,
    n_users: int,
    window: Window,
    catalog: Catalog,
    texts: Texts,
    lo: int,
    hi: int,
) -> RawEvents:
    """Anonymous devices lo..hi-1: a session on their first day, maybe more in the next two."""
    idx = np.arange(lo, hi, dtype=np.int64)
    owner = np.repeat(idx, visitors.sessions[idx])
    _, rank = _within(visitors.sessions[idx])
    later = np.where(rank > 0, rng.integers(0, 3, len(owner)), 0)
    day = np.minimum(visitors.first_day[owner] + later, window.days - 1)
    usable = window.day_length_ms - SESSION_SPAN_MS
    n = len(owner)
    no = np.zeros(n, np.bool_)
    sessions = _Sessions(
        person=owner + n_users,
        start=window.day_start_ms[day] + time_of_day_ms(rng, n, usable[day]),
        has_user=no,
        app_open=np.ones(n, np.bool_),
        social=no,
        view_scale=window.sale.views[day],
        cart_scale=np.zeros(n),
        purchase_scale=np.zeros(n),
    )
    out = _Parts()
    _realise(rng, sessions, behaviour, catalog, texts, out)
    return out.finish(behaviour, window)

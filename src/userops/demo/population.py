"""Who the demo users are, and the hidden traits that decide how they will behave.

Everything about a person is drawn once, up front, for the whole population: natural attributes
(gender, birthday, city, occupation), the channel they came through, and latent behaviour
(engaged or not, how long they stay, how often they open the app, how readily they buy). The
event simulation then only realises these traits day by day, chunk by chunk, so chunks are
independent: memory grows with the number of people (a few hundred bytes each), not events.

The planted truths live here, in tables a reader can check against docs/demo-data.md:
CHANNELS (referral users are the most often engaged and the readiest to pay) and the
LIFETIME_* constants (engaged users, the ones who add to cart in their first week, stay about
25 times longer; simulation.EARLY_DAYS keeps casual users from carting in that week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from userops.demo.calendar import WEEKDAY_SIGNUPS, Window, time_of_day_ms
from userops.demo.catalog import CATEGORIES
from userops.demo.geography import city_table
from userops.domain.contract import KNOWN_CHANNELS


@dataclass(frozen=True, slots=True)
class ChannelProfile:
    """How a channel's users arrive and behave. Shares move linearly over the window:
    paid feeds decay, word of mouth grows, as operators see it happen."""

    name: str
    share_first_day: float
    share_last_day: float
    engaged: float  # probability a user is engaged (carts in week one, stays)
    purchase: float  # multiplier on the chance a session with a cart ends in a purchase
    sources: tuple[str, ...]  # register_source_detail values


CHANNELS: Final[tuple[ChannelProfile, ...]] = (
    ChannelProfile("paid_search", 0.17, 0.16, 0.46, 1.15, ("baidu_sem", "360_search", "sogou")),
    ChannelProfile("feed_ads", 0.28, 0.19, 0.25, 0.75, ("douyin_feed", "toutiao", "kuaishou")),
    ChannelProfile("social", 0.14, 0.16, 0.32, 0.9, ("wechat_moments", "weibo", "xiaohongshu")),
    ChannelProfile("self_media", 0.11, 0.14, 0.36, 0.95, ("official_account", "bilibili_video")),
    ChannelProfile("offline_store", 0.07, 0.07, 0.42, 1.0, ("store_qrcode", "store_poster")),
    ChannelProfile("referral", 0.09, 0.14, 0.64, 1.9, ("invite_link", "invite_poster")),
    ChannelProfile("unknown", 0.14, 0.14, 0.18, 0.7, ()),
)
assert tuple(c.name for c in CHANNELS) == KNOWN_CHANNELS

# Mean days a user stays before going dormant (geometric), engaged vs not.
LIFETIME_ENGAGED_DAYS: Final = 160.0
LIFETIME_CASUAL_DAYS: Final = 6.0
# Daily chance that a dormant user comes back for a visit (much higher on the sale day).
DORMANT_RETURN: Final = 0.005
# Anonymous-only devices (browsed, never signed up), per registered user.
VISITORS_PER_USER: Final = 0.3

GENDERS: Final[tuple[str, ...]] = ("female", "male")
OS_NAMES: Final[tuple[str, ...]] = ("iOS", "Android")
APP_VERSIONS: Final[tuple[str, ...]] = ("6.2.1", "6.3.0", "6.4.0")
# fmt: off
OCCUPATIONS: Final[tuple[str, ...]] = (
    "学生", "企业职员", "公务员", "教师", "医护人员", "工程师", "个体经营者", "自由职业", "工人",
    "服务业人员", "农民", "退休",
)
# Occupation weights per age band (<23, 23-30, 31-40, 41-54, 55+), same order as OCCUPATIONS.
_OCCUPATION_BY_AGE: Final = np.array(
    [
        [70,  6, 1, 1, 1,  3,  2, 6,  4, 5, 1,  0],
        [ 4, 34, 6, 5, 5, 14,  6, 9,  6, 8, 3,  0],
        [ 0, 30, 8, 6, 6, 13, 12, 8,  7, 7, 3,  0],
        [ 0, 22, 9, 7, 6,  8, 16, 6, 10, 8, 7,  1],
        [ 0,  5, 3, 3, 3,  2,  8, 4,  5, 4, 8, 55],
    ],
    dtype=np.float64,
)
# fmt: on
_AGE_BANDS: Final = np.array([18, 23, 31, 41, 55, 66])
_AGE_BAND_SHARE: Final = np.array([0.17, 0.30, 0.30, 0.15, 0.08])
# fmt: off
_PHONE_PREFIXES: Final[tuple[str, ...]] = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "177", "180", "182", "185", "186", "187", "188",
    "189", "199",
)
_SURNAMES: Final[tuple[str, ...]] = (
    "zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun",
    "ma", "zhu", "hu", "guo", "he", "lin", "luo", "gao",
)
_GIVEN: Final[tuple[str, ...]] = (
    "wei", "fang", "na", "min", "jing", "lei", "jun", "yan", "yong", "jie", "tao", "ming",
    "chao", "xia", "ping", "gang", "hui", "hong", "qiang", "yu",
)
# fmt: on
_EMAIL_DOMAINS: Final[tuple[str, ...]] = ("example.com", "example.net", "example.org")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Per-person habits, users first and then visitors, read by the session simulation."""

    channel: npt.NDArray[np.int64]
    os: npt.NDArray[np.int64]
    version_lag_ms: npt.NDArray[np.int64]
    favourite: npt.NDArray[np.int64]  # favourite category
    p_active: npt.NDArray[np.float64]  # daily chance to open the app while not dormant
    extra_sessions: npt.NDArray[np.float64]  # mean extra sessions on an active day
    view_mu: npt.NDArray[np.float64]
    search_mu: npt.NDArray[np.float64]
    cart_p: npt.NDArray[np.float64]  # chance a view is added to the cart (after week one)
    purchase_p: npt.NDArray[np.float64]  # chance a session with a cart ends in a purchase
    share_p: npt.NDArray[np.float64]
    invite_p: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Population:
    """Registered users, sorted by signup time (index i is user U<i + 1>)."""

    signup_ms: npt.NDArray[np.int64]
    signup_day: npt.NDArray[np.int64]
    channel: npt.NDArray[np.int64]
    gender: npt.NDArray[np.int64]  # index into GENDERS, -1 = not given
    birthday_days: npt.NDArray[np.int64]  # days since 1970-01-01, -1 = not given
    city: npt.NDArray[np.int64]
    occupation: npt.NDArray[np.int64]  # index into OCCUPATIONS, -1 = not given
    source_detail: npt.NDArray[np.int64]  # index into the channel's sources, -1 = none
    email_name: npt.NDArray[np.int64]  # surname * len(_GIVEN) + given, -1 = no email
    phone_prefix: npt.NDArray[np.int64]
    engaged: npt.NDArray[np.bool_]
    lifetime_days: npt.NDArray[np.int64]
    lead_in: npt.NDArray[np.bool_]  # opened the app anonymously just before signing up
    pre_sessions: npt.NDArray[np.int64]  # anonymous browsing sessions in the days before
    inviter: npt.NDArray[np.int64]  # user index of the referrer, -1 = none in the data
    invite_ms: npt.NDArray[np.int64]  # when the referrer sent the invite
    behaviour: Behaviour  # first len(signup_ms) rows of the people table

    @property
    def size(self) -> int:
        return len(self.signup_ms)


@dataclass(frozen=True, slots=True)
class Visitors:
    """Devices that browse anonymously and never sign up."""

    first_day: npt.NDArray[np.int64]
    sessions: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        return len(self.first_day)


def _pick_rows(rng: np.random.Generator, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """One categorical draw per row of a (n, k) weight matrix."""
    cdf = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cdf[:, -1]
    picked: npt.NDArray[np.int64] = np.minimum(
        (cdf <= u[:, None]).sum(axis=1), weights.shape[1] - 1
    ).astype(np.int64)
    return picked


def _signups(rng: np.random.Generator, n: int, window: Window) -> npt.NDArray[np.int64]:
    """Signup instants: a growing product, busier weekends, a rush around the sale."""
    trend = 1.0 + 0.6 * np.arange(window.days) / max(window.days - 1, 1)
    weight = trend * WEEKDAY_SIGNUPS[window.weekday] * window.sale.signups
    day = rng.choice(window.days, size=n, p=weight / weight.sum())
    usable = window.day_length_ms - SESSION_SPAN_MS
    tod = time_of_day_ms(rng, n, usable[day])
    return np.sort(window.day_start_ms[day] + tod)


# The longest a simulated session can last; sessions start early enough to end the same day.
SESSION_SPAN_MS: Final = 30 * 60 * 1000


def _favourite_category(
    rng: np.random.Generator, gender: npt.NDArray[np.int64], age: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    female = np.array([c.affinity_female for c in CATEGORIES])
    male = np.array([c.affinity_male for c in CATEGORIES])
    weights = np.where(
        (gender == 1)[:, None], male, np.where((gender == 0)[:, None], female, (male + female) / 2)
    )
    baby = [c.name for c in CATEGORIES].index("母婴用品")
    books = [c.name for c in CATEGORIES].index("图书文娱")
    weights = weights.copy()
    weights[:, baby] *= np.where((age >= 25) & (age < 38), 3.0, 0.4)
    weights[:, books] *= np.where(age < 24, 3.0, 1.0)
    return _pick_rows(rng, weights)


def build_population(rng: np.random.Generator, n: int, window: Window) -> Population:
    signup_ms = _signups(rng, n, window)
    signup_day = window.day_of(signup_ms)
    frac = signup_day / max(window.days - 1, 1)
    first = np.array([c.share_first_day for c in CHANNELS])
    last = np.array([c.share_last_day for c in CHANNELS])
    channel = _pick_rows(rng, first[None, :] + (last - first)[None, :] * frac[:, None])

    gender = rng.choice(np.array([0, 1, -1]), size=n, p=[0.52, 0.43, 0.05]).astype(np.int64)
    band = rng.choice(len(_AGE_BAND_SHARE), size=n, p=_AGE_BAND_SHARE)
    age = _AGE_BANDS[band] + rng.random(n) * (_AGE_BANDS[band + 1] - _AGE_BANDS[band])
    end_days = (window.end - date(1970, 1, 1)).days
    birthday = (end_days - np.floor(age * 365.25)).astype(np.int64)
    birthday[rng.random(n) < 0.06] = -1
    occupation = _pick_rows(rng, _OCCUPATION_BY_AGE[band])
    occupation[rng.random(n) < 0.08] = -1

    cities = city_table()
    city = rng.choice(len(cities.city), size=n, p=cities.weight).astype(np.int64)
    ios_share = np.where(cities.tier1[city], 0.5, 0.28)
    os = (rng.random(n) >= ios_share).astype(np.int64)  # 0 = iOS, 1 = Android
    n_sources = np.array([max(len(c.sources), 1) for c in CHANNELS])
    source = np.floor(rng.random(n) * n_sources[channel]).astype(np.int64)
    source[channel == KNOWN_CHANNELS.index("unknown")] = -1
    email_name = rng.integers(0, len(_SURNAMES) * len(_GIVEN), n)
    email_name[rng.random(n) >= 0.4] = -1
    phone_prefix = rng.integers(0, len(_PHONE_PREFIXES), n)

    engaged_p = np.array([c.engaged for c in CHANNELS])[channel]
    engaged = rng.random(n) < engaged_p
    mean_life = np.where(engaged, LIFETIME_ENGAGED_DAYS, LIFETIME_CASUAL_DAYS)
    lifetime = rng.geometric(1.0 / mean_life).astype(np.int64)
    advocate = engaged & (rng.random(n) < 0.3)

    lead_in = rng.random(n) < 0.55
    pre_sessions = np.where(rng.random(n) < 0.3, rng.integers(1, 3, n), 0).astype(np.int64)

    behaviour = _behaviour(rng, n, channel, gender, age, os, engaged, advocate)
    inviter, invite_ms = _referrers(rng, window, signup_ms, signup_day, channel, lifetime, advocate)
    return Population(
        signup_ms=signup_ms,
        signup_day=signup_day,
        channel=channel,
        gender=gender,
        birthday_days=birthday,
        city=city,
        occupation=occupation,
        source_detail=source,
        email_name=email_name,
        phone_prefix=phone_prefix,
        engaged=engaged,
        lifetime_days=lifetime,
        lead_in=lead_in,
        pre_sessions=pre_sessions,
        inviter=inviter,
        invite_ms=invite_ms,
        behaviour=behaviour,
    )


def _behaviour(
    rng: np.random.Generator,
    n: int,
    channel: npt.NDArray[np.int64],
    gender: npt.NDArray[np.int64],
    age: npt.NDArray[np.float64],
    os: npt.NDArray[np.int64],
    engaged: npt.NDArray[np.bool_],
    advocate: npt.NDArray[np.bool_],
) -> Behaviour:
    p_active = np.where(engaged, 0.10 + 0.5 * rng.beta(2, 3, n), 0.05 + 0.3 * rng.beta(2, 5, n))
    purchase_mult = np.array([c.purchase for c in CHANNELS])[channel]
    purchase_p = np.clip(0.16 * purchase_mult * rng.lognormal(0.0, 0.35, n), 0.01, 0.9)
    return Behaviour(
        channel=channel,
        os=os,
        version_lag_ms=(rng.exponential(6.0, n) * 86_400_000).astype(np.int64),
        favourite=_favourite_category(rng, gender, age),
        p_active=p_active,
        extra_sessions=np.where(engaged, 0.5, 0.2) * rng.gamma(2.0, 0.5, n),
        view_mu=1.5 + rng.gamma(2.0, 1.0, n),
        search_mu=0.15 + 0.5 * rng.beta(2, 4, n),
        cart_p=0.04 + 0.12 * rng.beta(2, 5, n),
        purchase_p=purchase_p,
        share_p=np.where(advocate, 0.12, 0.015) * rng.lognormal(0.0, 0.3, n),
        invite_p=np.where(advocate, 0.04, 0.003),
    )


def _referrers(
    rng: np.random.Generator,
    window: Window,
    signup_ms: npt.NDArray[np.int64],
    signup_day: npt.NDArray[np.int64],
    channel: npt.NDArray[np.int64],
    lifetime: npt.NDArray[np.int64],
    advocate: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Link referral users to an earlier user who was still around and sent the invite.

    Candidates are drawn at random among everyone who signed up an hour or more before;
    advocates accept far more often, so a few users bring in many. A referral user with no
    acceptable candidate (early in the window) was invited by someone outside the data."""
    n = len(signup_ms)
    inviter = np.full(n, -1, dtype=np.int64)
    invite_ms = np.full(n, -1, dtype=np.int64)
    invitees = np.flatnonzero(channel == KNOWN_CHANNELS.index("referral"))
    if invitees.size == 0:
        return inviter, invite_ms
    hour = 3_600_000
    earlier = np.searchsorted(signup_ms, signup_ms[invitees] - hour, side="left")
    tries = 24
    cand = np.floor(rng.random((invitees.size, tries)) * earlier[:, None]).astype(np.int64)
    alive = signup_day[cand] + lifetime[cand] > signup_day[invitees][:, None]
    accept = np.where(advocate[cand], 0.9, 0.04) > rng.random((invitees.size, tries))
    ok = alive & accept & (earlier[:, None] > 0)
    has = ok.any(axis=1)
    first_ok = ok.argmax(axis=1)
    chosen = cand[np.arange(invitees.size), first_ok]
    # Sent ten minutes to a day and a half before the signup; when the referrer joined more
    # recently than that, at a random moment between the two signups.
    lead = (600_000 + rng.random(invitees.size) * 36 * hour).astype(np.int64)
    earliest = np.maximum(signup_ms[chosen] + 60_000, window.start_ms)
    latest = signup_ms[invitees] - 60_000
    between = earliest + (rng.random(invitees.size) * (latest - earliest)).astype(np.int64)
    sent = signup_ms[invitees] - lead
    sent = np.where(sent < earliest, between, sent)
    inviter[invitees[has]] = chosen[has]
    invite_ms[invitees[has]] = sent[has]
    return inviter, invite_ms


def build_visitors(
    rng: np.random.Generator, n_users: int, window: Window
) -> tuple[Visitors, Behaviour]:
    """Anonymous browsers; their habits reuse the user model with no carts and no purchases."""
    n = round(n_users * VISITORS_PER_USER)
    weight = WEEKDAY_SIGNUPS[window.weekday] * window.sale.signups
    first_day = np.sort(rng.choice(window.days, size=n, p=weight / weight.sum())).astype(np.int64)
    sessions = 1 + rng.binomial(2, 0.25, n).astype(np.int64)
    share = np.array([(c.share_first_day + c.share_last_day) / 2 for c in CHANNELS])
    channel = rng.choice(len(CHANNELS), size=n, p=share / share.sum()).astype(np.int64)
    gender = rng.choice(np.array([0, 1, -1]), size=n, p=[0.5, 0.45, 0.05]).astype(np.int64)
    age = 18 + rng.random(n) * 40
    zero = np.zeros(n)
    behaviour = Behaviour(
        channel=channel,
        os=(rng.random(n) >= 0.32).astype(np.int64),
        version_lag_ms=(rng.exponential(6.0, n) * 86_400_000).astype(np.int64),
        favourite=_favourite_category(rng, gender, age),
        p_active=zero,
        extra_sessions=zero,
        view_mu=0.8 + rng.gamma(2.0, 0.8, n),
        search_mu=0.1 + 0.4 * rng.random(n),
        cart_p=zero,
        purchase_p=zero,
        share_p=zero,
        invite_p=zero,
    )
    return Visitors(first_day=first_day, sessions=sessions), behaviour


def concat_behaviour(a: Behaviour, b: Behaviour) -> Behaviour:
    """Users' rows then visitors' rows, so a person index addresses both."""
    return Behaviour(
        **{
            name: np.concatenate([getattr(a, name), getattr(b, name)])
            for name in Behaviour.__dataclass_fields__
        }
    )


def phone_numbers(
    rng: np.random.Generator, n: int
) -> tuple[tuple[str, ...], npt.NDArray[np.int64]]:
    """Prefix table and unique eight-digit suffixes (an affine bijection of the user index)."""
    offset = int(rng.integers(0, 10**8))
    suffix = (np.arange(n, dtype=np.int64) * 48_271 + offset) % 10**8
    return _PHONE_PREFIXES, suffix


def email_parts() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return _SURNAMES, _GIVEN, _EMAIL_DOMAINS

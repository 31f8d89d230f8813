"""The points service (积分): award, redeem, adjust, reverse, expire, balance, statement.

Each write is one transaction that locks the user's account row first (see `ledger`), and
carries an idempotency key: replaying a key returns what the first request wrote (with
`replayed=True`) and writes nothing; using it for another user, kind or amount is refused.
A process killed mid-write leaves nothing behind: the transaction never committed.

`award_campaign` gives the same award to many users in one set-based transaction (INSERT ...
SELECT over a temporary table of user ids), with one idempotency key per user derived from the
campaign's key, so it can be rerun after a failure and gives each user their points once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from userops.domain.bounds import MAX_OFFSET, check_instant
from userops.domain.membership import points as rules
from userops.domain.membership.points import ExpiryRule
from userops.errors import InputError
from userops.membership import growth, ledger
from userops.membership.ledger import KeyConflict, Writer
from userops.store.db import session_scope
from userops.store.models import USER_ID_LENGTH, PointsAccount, PointsEntry, PointsLot
from userops.store.types import utcnow

DEFAULT_TZ: Final = ZoneInfo("Asia/Shanghai")
KEY_MAX: Final = 200
"""Longest idempotency key a caller may give (derived keys add a short suffix)."""
ACTOR_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """One ledger entry as the faces show it."""

    id: int
    user_id: str
    kind: str
    amount: int
    key: str
    effective_at: datetime
    recorded_at: datetime
    matures_at: datetime | None
    reference: str | None
    rule_id: int | None
    reverses_id: int | None
    actor: str
    reason: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: PointsEntry) -> EntryInfo:
        return cls(
            id=entry.id,
            user_id=entry.user_id,
            kind=entry.kind,
            amount=entry.amount,
            key=entry.idempotency_key,
            effective_at=entry.effective_at,
            recorded_at=entry.recorded_at,
            matures_at=entry.matures_at,
            reference=entry.reference,
            rule_id=entry.rule_id,
            reverses_id=entry.reverses_id,
            actor=entry.actor,
            reason=entry.reason,
            detail=dict(entry.detail or {}),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "kind": self.kind,
            "amount": self.amount,
            "key": self.key,
            "effective_at": self.effective_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "matures_at": self.matures_at.isoformat() if self.matures_at else None,
            "reference": self.reference,
            "rule_id": self.rule_id,
            "reverses_id": self.reverses_id,
            "actor": self.actor,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Balance:
    """A user's points at `at`: `available` to spend, `pending` (not matured), `total` (the
    sum of the ledger, which also counts expired points no expiry run has written yet), and
    the next expiries (instant, points)."""

    user_id: str
    at: datetime
    available: int
    pending: int
    total: int
    expiring: tuple[tuple[datetime, int], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "at": self.at.isoformat(),
            "available": self.available,
            "pending": self.pending,
            "total": self.total,
            "expiring": [{"at": at.isoformat(), "points": n} for at, n in self.expiring],
        }


@dataclass(frozen=True, slots=True)
class PointsResult:
    """What a write did (or, `replayed`, what the first request with its key did); an order
    reversal also says how much growth value it took back."""

    entries: tuple[EntryInfo, ...]
    replayed: bool
    balance: Balance
    growth_reversed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "growth_reversed": self.growth_reversed,
            "entries": [e.as_json() for e in self.entries],
            "balance": self.balance.as_json(),
        }


def check_key(key: str) -> str:
    key = key.strip() if isinstance(key, str) else ""
    if not key:
        raise InputError("an idempotency key is required on every points write (--key KEY)")
    if len(key) > KEY_MAX:
        raise InputError(f"idempotency key {key[:20]!r}... is longer than {KEY_MAX} characters")
    return key


def check_user(user_id: str) -> str:
    user = user_id.strip() if isinstance(user_id, str) else ""
    if not user or len(user) > USER_ID_LENGTH:
        raise InputError(f"user id must be 1 to {USER_ID_LENGTH} characters")
    return user


def _expiry(expiry: ExpiryRule | str) -> ExpiryRule:
    return expiry if isinstance(expiry, ExpiryRule) else ExpiryRule.parse(expiry)


def _write(
    engine: Engine,
    *,
    user_id: str,
    key: str,
    kind: str,
    amount: int | None,
    actor: str,
    at: datetime | None,
    body: Callable[[Writer], list[PointsEntry]],
) -> PointsResult:
    """Run `body` for a locked account once per key; replay the first result afterwards."""
    user, key = check_user(user_id), check_key(key)
    when = utcnow() if at is None else check_instant(at, "the time of the write (at)")
    for attempt in range(2):
        try:
            with session_scope(engine) as session:
                account = ledger.lock_accounts(session, [user])[user]
                done = ledger.entries_of_op(session, key)
                if not done:
                    writer = Writer(session, account, op_key=key, actor=actor[:ACTOR_MAX], at=when)
                    # Expiries written on the way are their own operations: the result, like a
                    # replay, holds only this request's entries.
                    written = [e for e in body(writer) if e.op_key == key]
                    return PointsResult(
                        tuple(EntryInfo.of(e) for e in written),
                        False,
                        balance_in(session, user, when, total=account.balance),
                    )
                ledger.check_replay(done, user_id=user, kind=kind, amount=amount)
                return PointsResult(
                    tuple(EntryInfo.of(e) for e in done),
                    True,
                    balance_in(session, user, when, total=account.balance),
                )
        except IntegrityError as exc:
            # Another transaction wrote this key (for another user, or first) between our
            # check and our insert: once more, so the key is replayed or refused.
            if attempt:
                raise KeyConflict(f"idempotency key {key!r} is being used concurrently") from exc
    raise AssertionError("unreachable")


def award(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    at: datetime | None = None,
    maturity_days: int = 0,
    expiry: ExpiryRule | str = "never",
    reference: str | None = None,
    reason: str | None = None,
    actor: str = "system",
    tz: tzinfo = DEFAULT_TZ,
) -> PointsResult:
    """Give `amount` points (earned at `at`, pending for `maturity_days`)."""
    rules.check_amount(amount)
    rule = _expiry(expiry)

    def body(writer: Writer) -> list[PointsEntry]:
        entry = ledger.credit(
            writer,
            kind="earn",
            amount=amount,
            earned_at=writer.now,
            maturity_days=maturity_days,
            expiry=rule,
            tz=tz,
            reference=reference,
            reason=reason,
        )
        return [entry]

    return _write(
        engine, user_id=user_id, key=key, kind="earn", amount=amount, actor=actor, at=at, body=body
    )


def redeem(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    at: datetime | None = None,
    reference: str | None = None,
    reason: str | None = None,
    actor: str = "system",
) -> PointsResult:
    """Spend `amount` available points, oldest lots first; too few is `InsufficientPoints`
    and nothing is written."""
    rules.check_amount(amount)

    def body(writer: Writer) -> list[PointsEntry]:
        return [
            ledger.debit(writer, kind="spend", amount=amount, reference=reference, reason=reason)
        ]

    return _write(
        engine, user_id=user_id, key=key, kind="spend", amount=amount, actor=actor, at=at, body=body
    )


def adjust(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    reason: str,
    actor: str,
    at: datetime | None = None,
    expiry: ExpiryRule | str = "never",
    tz: tzinfo = DEFAULT_TZ,
) -> PointsResult:
    """An operator's correction: positive adds a lot, negative takes available points."""
    if not reason or not reason.strip():
        raise InputError("an adjustment needs a reason")
    if amount == 0:
        raise InputError("an adjustment of 0 points changes nothing")
    rules.check_amount(abs(amount))
    rule = _expiry(expiry)

    def body(writer: Writer) -> list[PointsEntry]:
        if amount > 0:
            entry = ledger.credit(
                writer,
                kind="adjust",
                amount=amount,
                earned_at=writer.now,
                maturity_days=0,
                expiry=rule,
                tz=tz,
                reason=reason,
            )
            return [entry]
        return [ledger.debit(writer, kind="adjust", amount=-amount, reason=reason)]

    return _write(
        engine,
        user_id=user_id,
        key=key,
        kind="adjust",
        amount=abs(amount),
        actor=actor,
        at=at,
        body=body,
    )


def reverse(
    engine: Engine,
    *,
    user_id: str,
    key: str,
    entry_key: str | None = None,
    reference: str | None = None,
    amount: int | None = None,
    reason: str | None = None,
    actor: str = "system",
    at: datetime | None = None,
) -> PointsResult:
    """Reverse one entry (by its idempotency key; all of it or `amount`), or everything an
    order (`reference`) earned and spent: spends are restored first, then earns taken back by
    the claw-back rule (docs/membership.md)."""
    if (entry_key is None) == (reference is None):
        raise InputError("name what to reverse: an entry's key, or an order reference")
    if reference is not None and amount is not None:
        raise InputError("an order is reversed whole; give an entry's key to reverse part of it")

    def body(writer: Writer) -> list[PointsEntry]:
        session = writer.session
        if entry_key is not None:
            target = session.scalars(
                select(PointsEntry).where(PointsEntry.idempotency_key == entry_key)
            ).one_or_none()
            if target is None or target.user_id != writer.account.user_id:
                raise InputError(f"user {user_id!r} has no entry with key {entry_key!r}")
            return [ledger.reverse(writer, target, amount=amount, reason=reason)]
        assert reference is not None
        user = writer.account.user_id
        targets = ledger.reversal_targets(session, user, reference)
        written = [
            ledger.reverse(writer, target, reason=reason or f"order {reference} reversed")
            for target in targets
            if ledger.still_reversible(session, target)
        ]
        taken = growth.reverse_reference(session, user_id=user, reference=reference, key=key)
        if not written and not taken and not growth.reversed_by(session, key):
            if not targets:
                raise InputError(
                    f"user {user_id!r} has no points or growth for order {reference!r}"
                )
            raise InputError(f"the points of order {reference!r} are already reversed")
        return written

    result = _write(
        engine, user_id=user_id, key=key, kind="reverse", amount=None, actor=actor, at=at, body=body
    )
    if reference is None:
        return result
    with session_scope(engine, read_only=True) as session:
        return replace(result, growth_reversed=growth.reversed_by(session, check_key(key)))


@dataclass(frozen=True, slots=True)
class ExpiryRun:
    users: int
    points: int

    def as_json(self) -> dict[str, int]:
        return {"users": self.users, "points": self.points}


def expire(engine: Engine, *, at: datetime | None = None, batch: int = 500) -> ExpiryRun:
    """Write the expiry of every lot due by `at`, `batch` users per transaction."""
    when = at or utcnow()
    users = points = 0
    while True:
        with session_scope(engine) as session:
            due = ledger.users_with_due_lots(session, when, batch)
            if not due:
                return ExpiryRun(users, points)
            points += ledger.settle(session, due, when)
            users += len(due)


def balance_in(
    session: Session, user_id: str, at: datetime, *, total: int | None = None
) -> Balance:
    """The balance at `at` from the user's open lots (`total`: the account's cached sum, when
    the caller holds it)."""
    lots = [ledger.as_domain(lot) for lot in ledger.lots_of(session, user_id)]
    if total is None:
        total = session.scalar(
            select(PointsAccount.balance).where(PointsAccount.user_id == user_id)
        )
    soon: dict[datetime, int] = {}
    for lot in lots:
        if lot.is_available(at) and lot.expires_at is not None:
            soon[lot.expires_at] = soon.get(lot.expires_at, 0) + lot.remaining
    return Balance(
        user_id=user_id,
        at=at,
        available=rules.available(lots, at),
        pending=rules.pending(lots, at),
        total=int(total or 0),
        expiring=tuple(sorted(soon.items())[:5]),
    )


def balance(engine: Engine, *, user_id: str, at: datetime | None = None) -> Balance:
    """What the user holds at `at` (now by default); an unknown user holds nothing."""
    with session_scope(engine, read_only=True) as session:
        return balance_in(session, check_user(user_id), at or utcnow())


def statement(
    engine: Engine, *, user_id: str, limit: int = 100, offset: int = 0
) -> list[EntryInfo]:
    """The user's ledger, newest first."""
    if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_OFFSET:
        raise InputError(f"limit must be 1 to 1000 and offset 0 to {MAX_OFFSET:,}")
    with session_scope(engine, read_only=True) as session:
        rows = session.scalars(
            select(PointsEntry)
            .where(PointsEntry.user_id == check_user(user_id))
            .order_by(PointsEntry.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [EntryInfo.of(e) for e in rows]


# Campaign awards -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignAward:
    """`awarded` users got points now; `already` had them from an earlier run of the key."""

    awarded: int
    already: int
    points: int

    def as_json(self) -> dict[str, int]:
        return {"awarded": self.awarded, "already": self.already, "points": self.points}


def campaign_key(key: str, user_id: str) -> str:
    """The idempotency key of one user's share of a campaign award."""
    return f"{key}:{user_id}"


def award_campaign(
    engine: Engine,
    *,
    key: str,
    user_ids: Iterable[str],
    amount: int,
    at: datetime | None = None,
    maturity_days: int = 0,
    expiry: ExpiryRule | str = "never",
    reference: str | None = None,
    reason: str | None = None,
    actor: str = "system",
    tz: tzinfo = DEFAULT_TZ,
) -> CampaignAward:
    """Give `amount` points to every user in `user_ids` in one set-based transaction.

    The result equals calling `award(user_id=u, key=campaign_key(key, u), ...)` for each user:
    the same entries, lots and balances, at a fraction of the cost.
    """
    key = check_key(key)
    rules.check_amount(amount)
    rule = _expiry(expiry)
    when = at or utcnow()
    matures_at, expires_at = rules.lot_times(when, maturity_days=maturity_days, expiry=rule, tz=tz)
    users = sorted({check_user(u) for u in user_ids})
    if not users:
        return CampaignAward(0, 0, 0)
    with session_scope(engine) as session:
        temp = _TempUsers(session)
        try:
            temp.fill(users)
            done = _bulk_award(
                session,
                temp.table,
                key=key,
                amount=amount,
                when=when,
                matures_at=matures_at,
                expires_at=expires_at,
                reference=reference,
                reason=reason,
                actor=actor[:ACTOR_MAX],
            )
        finally:
            temp.drop()
    return CampaignAward(awarded=done, already=len(users) - done, points=done * amount)


class _TempUsers:
    """A temporary table of user ids on the session's connection."""

    def __init__(self, session: Session):
        self.session = session
        name = f"tmp_award_{secrets.token_hex(6)}"
        self.table = Table(
            name,
            MetaData(),
            Column("user_id", String(USER_ID_LENGTH), primary_key=True),
            prefixes=["TEMPORARY"],
        )
        self.table.create(session.connection())

    def fill(self, users: Sequence[str]) -> None:
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            raw = connection.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f'COPY "{self.table.name}" (user_id) FROM STDIN') as copy,
            ):
                for user in users:
                    copy.write_row((user,))
            return
        for part in ledger.chunks(users, 50_000):
            self.session.execute(insert(self.table), [{"user_id": u} for u in part])

    def drop(self) -> None:
        self.table.drop(self.session.connection())


def _bulk_award(
    session: Session,
    temp: Table,
    *,
    key: str,
    amount: int,
    when: datetime,
    matures_at: datetime,
    expires_at: datetime | None,
    reference: str | None,
    reason: str | None,
    actor: str,
) -> int:
    now = utcnow()
    accounts = ledger.table_of(PointsAccount)
    entries = ledger.table_of(PointsEntry)
    lots = ledger.table_of(PointsLot)
    prefix = literal(f"{key}:", String)
    user_key = prefix + temp.c.user_id
    session.execute(
        insert(accounts).from_select(
            ["user_id", "balance", "created_at", "updated_at"],
            select(
                temp.c.user_id,
                literal(0, BigInteger),
                literal(now, accounts.c.created_at.type),
                literal(now, accounts.c.updated_at.type),
            ).where(~exists().where(accounts.c.user_id == temp.c.user_id)),
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        # Lock every account in user id order (as single writes do), so no deadlock with them.
        session.execute(
            select(accounts.c.user_id)
            .where(accounts.c.user_id.in_(select(temp.c.user_id)))
            .order_by(accounts.c.user_id)
            .with_for_update()
        )
    # Users whose share was written by an earlier run of this campaign key get nothing more.
    session.execute(temp.delete().where(exists().where(entries.c.idempotency_key == user_key)))
    count = int(session.scalar(select(func.count()).select_from(temp)) or 0)
    if not count:
        return 0
    utc = entries.c.effective_at.type
    session.execute(
        insert(entries).from_select(
            [
                "user_id",
                "kind",
                "amount",
                "idempotency_key",
                "op_key",
                "effective_at",
                "recorded_at",
                "matures_at",
                "reference",
                "actor",
                "reason",
                "detail",
            ],
            select(
                temp.c.user_id,
                literal("earn", String),
                literal(amount, BigInteger),
                user_key,
                user_key,
                literal(when, utc),
                literal(now, utc),
                literal(matures_at if matures_at > when else None, utc),
                literal(reference, String),
                literal(actor, String),
                literal(reason, String),
                literal({"campaign": key}, entries.c.detail.type),
            ),
        )
    )
    session.execute(
        insert(lots).from_select(
            [
                "entry_id",
                "user_id",
                "amount",
                "remaining",
                "spent",
                "expired",
                "reversed",
                "expired_covered",
                "clawed",
                "owed",
                "matures_at",
                "expires_at",
            ],
            select(
                entries.c.id,
                entries.c.user_id,
                literal(amount, BigInteger),
                literal(amount, BigInteger),
                *(literal(0, BigInteger) for _ in range(6)),
                literal(matures_at, utc),
                literal(expires_at, utc),
            ).join_from(entries, temp, and_(entries.c.idempotency_key == user_key)),
        )
    )
    session.execute(
        update(accounts)
        .where(accounts.c.user_id.in_(select(temp.c.user_id)))
        .values(balance=accounts.c.balance + amount, updated_at=now)
    )
    if expires_at is not None and expires_at <= when:
        ledger.settle(session, list(session.scalars(select(temp.c.user_id))), when)
    return count

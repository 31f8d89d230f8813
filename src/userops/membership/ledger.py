"""The points ledger inside one transaction: lock a user, plan with the domain, write entries.

Every function here takes a `Session` whose transaction the caller owns (`points.py` opens one
per request; the rules engine one per batch of events), so several writes commit or vanish
together. A user's points are only touched with their account row locked: `SELECT ... FOR
UPDATE` on PostgreSQL, and on SQLite the database write lock that `BEGIN IMMEDIATE` took when
the transaction began. Rows are locked in user id order, so two transactions never deadlock.

What the domain decides (`userops.domain.membership.points`) is written as:
- one `points_ledger` entry per movement (append-only; `idempotency_key` unique),
- `points_allocations` rows naming the lots an entry took points from or gave them back to,
- updated counters on the `points_lots` rows and the account's cached balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from userops.domain.membership import points as rules
from userops.domain.membership.points import EntryKind, ExpiryRule
from userops.errors import ConflictError, InputError
from userops.store.models import PointsAccount, PointsAllocation, PointsEntry, PointsLot
from userops.store.types import utcnow

IN_CHUNK: Final = 900
"""Values per `IN (...)` list: below SQLite's oldest limit of 999 bound parameters."""
CREDIT_KINDS: Final = frozenset({"earn", "adjust"})


class KeyConflict(ConflictError):
    """An idempotency key already used by a different request (another user, kind or amount)."""


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class (typed as such, for INSERT/UPDATE statements)."""
    table: Table = model.__table__
    return table


def insert_for(session: Session, table: Table) -> Any:
    """The dialect's INSERT (with ON CONFLICT support) for `table`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def lock_accounts(session: Session, user_ids: Iterable[str]) -> dict[str, PointsAccount]:
    """The accounts of `user_ids`, created when missing and locked until the transaction ends."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    now = utcnow()
    table = table_of(PointsAccount)
    for part in chunks(wanted):
        rows = [{"user_id": u, "balance": 0, "created_at": now, "updated_at": now} for u in part]
        session.execute(insert_for(session, table).on_conflict_do_nothing(), rows)
    found: dict[str, PointsAccount] = {}
    for part in chunks(wanted):
        statement = (
            select(PointsAccount)
            .where(PointsAccount.user_id.in_(part))
            .order_by(PointsAccount.user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found.update((a.user_id, a) for a in session.scalars(statement))
    return found


def lots_of(session: Session, user_id: str, *, open_only: bool = True) -> list[PointsLot]:
    """The user's lots (by default those still holding points), oldest first."""
    statement = select(PointsLot).where(PointsLot.user_id == user_id)
    if open_only:
        statement = statement.where(PointsLot.remaining > 0)
    return list(session.scalars(statement.order_by(PointsLot.entry_id)))


def as_domain(lot: PointsLot) -> rules.Lot:
    return rules.Lot(
        id=lot.entry_id,
        amount=lot.amount,
        remaining=lot.remaining,
        matures_at=lot.matures_at,
        expires_at=lot.expires_at,
        spent=lot.spent,
        expired=lot.expired,
        reversed=lot.reversed,
        expired_covered=lot.expired_covered,
        clawed=lot.clawed,
        owed=lot.owed,
    )


def entries_of_op(session: Session, op_key: str) -> list[PointsEntry]:
    """The entries an earlier request with this idempotency key wrote, in order."""
    statement = select(PointsEntry).where(PointsEntry.op_key == op_key).order_by(PointsEntry.id)
    return list(session.scalars(statement))


def check_replay(
    entries: Sequence[PointsEntry], *, user_id: str, kind: str, amount: int | None
) -> None:
    """Refuse to replay a key that was used for something else."""
    first = entries[0]
    same = first.user_id == user_id and first.kind == kind
    if same and amount is not None:
        same = abs(first.amount) == amount
    if not same:
        raise KeyConflict(
            f"idempotency key {first.op_key!r} was already used ({first.kind}, "
            f"{abs(first.amount)} points, user {first.user_id!r}); use a new key"
        )


@dataclass
class Writer:
    """Writes the entries of one request (`op_key`) for one locked account."""

    session: Session
    account: PointsAccount
    op_key: str
    actor: str = "system"
    at: datetime | None = None
    count: int = 0

    @property
    def now(self) -> datetime:
        return self.at or utcnow()

    def entry(
        self,
        kind: EntryKind,
        amount: int,
        *,
        effective_at: datetime | None = None,
        matures_at: datetime | None = None,
        reference: str | None = None,
        rule_id: int | None = None,
        reverses_id: int | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> PointsEntry:
        """Append one entry of this request: the first carries the request's key, the next
        ones `KEY/1`, `KEY/2`... An entry given its own `key` (an expiry found on the way) is
        not part of the request: it is its own operation."""
        op_key = key
        if key is None:
            key = self.op_key if self.count == 0 else f"{self.op_key}/{self.count}"
            op_key = self.op_key
            self.count += 1
        row = PointsEntry(
            user_id=self.account.user_id,
            kind=kind,
            amount=amount,
            idempotency_key=key,
            op_key=op_key,
            effective_at=effective_at or self.now,
            recorded_at=utcnow(),
            matures_at=matures_at,
            reference=reference,
            rule_id=rule_id,
            reverses_id=reverses_id,
            actor=self.actor,
            reason=reason,
            detail=detail or {},
        )
        self.session.add(row)
        self.session.flush()
        self.account.balance += amount
        self.account.updated_at = utcnow()
        return row

    def allocate(self, entry: PointsEntry, takes: Iterable[tuple[int, int]]) -> None:
        self.session.add_all(
            PointsAllocation(entry_id=entry.id, lot_id=lot_id, amount=amount)
            for lot_id, amount in takes
            if amount
        )


def credit(
    writer: Writer,
    *,
    kind: EntryKind,
    amount: int,
    earned_at: datetime,
    maturity_days: int,
    expiry: ExpiryRule,
    tz: tzinfo,
    reference: str | None = None,
    rule_id: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> PointsEntry:
    """Add points: one entry and the lot that remembers what is left of it."""
    rules.check_amount(amount)
    matures_at, expires_at = rules.lot_times(
        earned_at, maturity_days=maturity_days, expiry=expiry, tz=tz
    )
    entry = writer.entry(
        kind,
        amount,
        effective_at=earned_at,
        matures_at=matures_at if matures_at > earned_at else None,
        reference=reference,
        rule_id=rule_id,
        reason=reason,
        detail=detail,
    )
    writer.session.add(
        PointsLot(
            entry_id=entry.id,
            user_id=entry.user_id,
            amount=amount,
            remaining=amount,
            matures_at=matures_at,
            expires_at=expires_at,
        )
    )
    writer.session.flush()
    return entry


def expire_due(writer: Writer, lots: Sequence[PointsLot] | None = None) -> list[PointsEntry]:
    """Expire what is left in the account's lots whose expiry time has come (one entry per lot,
    dated at the lot's expiry time)."""
    at = writer.now
    open_lots = lots if lots is not None else lots_of(writer.session, writer.account.user_id)
    by_id = {lot.entry_id: lot for lot in open_lots}
    written = []
    for take in rules.expiring([as_domain(lot) for lot in open_lots], at):
        lot = by_id[take.lot_id]
        lot.remaining -= take.amount
        lot.expired += take.amount
        # The key names the lot and how much of it has expired in total, so the same expiry is
        # written once however many processes settle the account.
        entry = writer.entry(
            "expire",
            -take.amount,
            effective_at=lot.expires_at,
            key=f"expire/{lot.entry_id}/{lot.expired}",
            reason="expired",
            detail={"lot": lot.entry_id},
        )
        writer.allocate(entry, [(lot.entry_id, take.amount)])
        written.append(entry)
    writer.session.flush()
    return written


def debit(
    writer: Writer,
    *,
    kind: EntryKind,
    amount: int,
    reference: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> PointsEntry:
    """Take `amount` available points, oldest lots first (expiring what is due first)."""
    rules.check_amount(amount)
    lots = lots_of(writer.session, writer.account.user_id)
    expire_due(writer, lots)
    takes = rules.take_oldest_first(
        [as_domain(lot) for lot in lots], amount, writer.now, user_id=writer.account.user_id
    )
    entry = writer.entry(kind, -amount, reference=reference, reason=reason, detail=detail)
    _take(writer, entry, lots, takes)
    return entry


def _take(
    writer: Writer, entry: PointsEntry, lots: Sequence[PointsLot], takes: Iterable[rules.Take]
) -> None:
    by_id = {lot.entry_id: lot for lot in lots}
    pairs = []
    for take in takes:
        lot = by_id[take.lot_id]
        lot.remaining -= take.amount
        lot.spent += take.amount
        pairs.append((take.lot_id, take.amount))
    writer.allocate(entry, pairs)
    writer.session.flush()


def reversible_kind(entry: PointsEntry) -> str:
    """`credit` (an earn or positive adjustment), `debit` (a spend or negative adjustment)."""
    if entry.kind in CREDIT_KINDS and entry.amount > 0:
        return "credit"
    if entry.kind == "spend" or (entry.kind == "adjust" and entry.amount < 0):
        return "debit"
    raise InputError(
        f"entry {entry.id} is a{'n' if entry.kind[0] in 'ae' else ''} {entry.kind}; only earn, "
        "spend and adjust entries can be reversed"
    )


def reverse(
    writer: Writer,
    target: PointsEntry,
    *,
    amount: int | None = None,
    reason: str | None = None,
) -> PointsEntry:
    """Reverse (all or `amount` of) one earn, spend or adjust entry of the locked account.

    A credit is taken back by the claw-back rule (`plan_earn_reversal`); a debit gives its
    points back to the lots it took them from (`plan_restore`), after which anything restored
    into an expired lot expires at once.
    """
    if target.user_id != writer.account.user_id:
        raise InputError(f"entry {target.id} belongs to another user")
    if reversible_kind(target) == "credit":
        return _reverse_credit(writer, target, amount, reason)
    return _restore_debit(writer, target, amount, reason)


def _reverse_credit(
    writer: Writer, target: PointsEntry, amount: int | None, reason: str | None
) -> PointsEntry:
    session, user = writer.session, writer.account.user_id
    lots = lots_of(session, user)
    expire_due(writer, lots)
    own = session.get(PointsLot, target.id, populate_existing=True)
    if own is None:
        raise InputError(f"entry {target.id} has no lot; it cannot be reversed")
    others = [lot for lot in lots if lot.entry_id != own.entry_id]
    plan = rules.plan_earn_reversal(
        as_domain(own), [as_domain(lot) for lot in others], writer.now, amount=amount, user_id=user
    )
    entry = writer.entry(
        "reverse",
        plan.ledger_amount,
        matures_at=own.matures_at if plan.pending else None,
        reference=target.reference,
        rule_id=target.rule_id,
        reverses_id=target.id,
        reason=reason,
        detail={
            "requested": plan.requested,
            "from_lot": plan.from_lot,
            "expired": plan.expired,
            "clawed_back": plan.clawed,
            "written_off": plan.written_off,
        },
    )
    after = rules.after_earn_reversal(as_domain(own), plan)
    own.remaining, own.reversed = after.remaining, after.reversed
    own.expired_covered, own.clawed, own.owed = after.expired_covered, after.clawed, after.owed
    writer.allocate(entry, [(own.entry_id, plan.from_lot)])
    _take(writer, entry, others, plan.clawback)
    return entry


def _restore_debit(
    writer: Writer, target: PointsEntry, amount: int | None, reason: str | None
) -> PointsEntry:
    session = writer.session
    held = held_by(session, target)
    lots = {
        lot.entry_id: lot
        for lot in session.scalars(
            select(PointsLot)
            .where(PointsLot.entry_id.in_(list(held)))
            .execution_options(populate_existing=True)
        )
    }
    plan = rules.plan_restore(
        [rules.Held(as_domain(lots[lot_id]), count) for lot_id, count in held.items()],
        amount=amount,
        entry=target.id,
        user_id=writer.account.user_id,
    )
    entry = writer.entry(
        "reverse",
        sum(r.usable for r in plan),
        reference=target.reference,
        reverses_id=target.id,
        reason=reason,
        detail={
            "restored": sum(r.amount for r in plan),
            "repaid": sum(r.repaid for r in plan),
        },
    )
    for restore in plan:
        after = rules.after_restore(as_domain(lots[restore.lot_id]), restore)
        lot = lots[restore.lot_id]
        lot.remaining, lot.spent = after.remaining, after.spent
        lot.reversed, lot.owed = after.reversed, after.owed
    writer.allocate(entry, [(r.lot_id, -r.amount) for r in plan])
    session.flush()
    expire_due(writer)
    return entry


def held_by(session: Session, target: PointsEntry) -> dict[int, int]:
    """Points a debit entry still holds per lot: what it took, less what reversals of it gave
    back."""
    reversals = select(PointsEntry.id).where(PointsEntry.reverses_id == target.id)
    statement = (
        select(PointsAllocation.lot_id, func.sum(PointsAllocation.amount))
        .where(
            (PointsAllocation.entry_id == target.id)
            | PointsAllocation.entry_id.in_(reversals.scalar_subquery())
        )
        .group_by(PointsAllocation.lot_id)
    )
    return {int(lot): int(total) for lot, total in session.execute(statement) if total}


def reversal_targets(session: Session, user_id: str, reference: str) -> list[PointsEntry]:
    """The entries of an order (`reference`) that a reversal of the order undoes: debits first
    (their points come back and can then be clawed back), then credits."""
    statement = (
        select(PointsEntry)
        .where(
            PointsEntry.user_id == user_id,
            PointsEntry.reference == reference,
            PointsEntry.kind.in_(("earn", "spend", "adjust")),
        )
        .order_by(PointsEntry.id)
    )
    found = list(session.scalars(statement))
    return sorted(found, key=lambda e: (reversible_kind(e) == "credit", e.id))


def still_reversible(session: Session, entry: PointsEntry) -> bool:
    if reversible_kind(entry) == "debit":
        return sum(held_by(session, entry).values()) > 0
    lot = session.get(PointsLot, entry.id, populate_existing=True)
    return lot is not None and as_domain(lot).reversible > 0


def settle(session: Session, user_ids: Iterable[str], at: datetime) -> int:
    """Expire what is due by `at` in the accounts of `user_ids` (locking them), set-based: one
    entry per lot, as `expire_due` writes for one account. Returns the points expired."""
    users = sorted(set(user_ids))
    lock_accounts(session, users)
    lots = table_of(PointsLot)
    due: list[Any] = []
    for part in chunks(users):
        due += session.execute(
            select(
                lots.c.entry_id, lots.c.user_id, lots.c.remaining, lots.c.expired, lots.c.expires_at
            )
            .where(lots.c.user_id.in_(part), lots.c.remaining > 0, lots.c.expires_at <= at)
            .order_by(lots.c.user_id, lots.c.expires_at, lots.c.entry_id)
        ).all()
    if not due:
        return 0
    session.flush()
    now = utcnow()
    entries = table_of(PointsEntry)
    values = []
    for lot_id, user, remaining, expired, expires_at in due:
        key = f"expire/{lot_id}/{expired + remaining}"
        values.append(
            {
                "user_id": user,
                "kind": "expire",
                "amount": -remaining,
                "idempotency_key": key,
                "op_key": key,
                "effective_at": expires_at,
                "recorded_at": now,
                "matures_at": None,
                "reference": None,
                "rule_id": None,
                "reverses_id": None,
                "actor": "system",
                "reason": "expired",
                "detail": {"lot": lot_id},
            }
        )
    ids = (
        session.execute(
            entries.insert().returning(entries.c.id, sort_by_parameter_order=True), values
        )
        .scalars()
        .all()
    )
    session.execute(
        table_of(PointsAllocation).insert(),
        [
            {"entry_id": entry_id, "lot_id": row[0], "amount": row[2]}
            for entry_id, row in zip(ids, due, strict=True)
        ],
    )
    session.execute(
        update(lots)
        .where(lots.c.entry_id == bindparam("lot"))
        .values(remaining=0, expired=lots.c.expired + bindparam("gone")),
        [{"lot": row[0], "gone": row[2]} for row in due],
    )
    add_to_balances(session, sums_by_user((row[1], -row[2]) for row in due))
    session.expire_all()  # ORM objects of these rows are stale now
    return sum(row[2] for row in due)


def users_with_due_lots(session: Session, at: datetime, limit: int) -> list[str]:
    statement = (
        select(PointsLot.user_id)
        .where(PointsLot.remaining > 0, PointsLot.expires_at <= at)
        .group_by(PointsLot.user_id)
        .order_by(PointsLot.user_id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def add_to_balances(session: Session, deltas: dict[str, int]) -> None:
    """Add to cached balances of accounts the caller has locked (set-based, one statement)."""
    if not deltas:
        return
    table = table_of(PointsAccount)
    now = utcnow()
    session.execute(
        update(table)
        .where(table.c.user_id == bindparam("u"))
        .values(balance=table.c.balance + bindparam("d"), updated_at=now),
        [{"u": user, "d": delta} for user, delta in deltas.items()],
    )


def sums_by_user(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for user, amount in pairs:
        totals[user] += amount
    return dict(totals)

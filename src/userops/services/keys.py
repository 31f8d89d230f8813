"""Write keys: the secrets event producers send with every call to the ingestion API (/v1).

- A key is `uo_wk_` followed by 43 random URL-safe characters (`secrets.token_urlsafe(32)`,
  256 bits). It is shown once, when created; the store keeps only its sha256 (hex) and its
  prefix: the 8 characters after `uo_wk_`, which operators see in lists and may revoke it by.
- Creating and revoking write an audit entry in the same transaction, naming the actor (an
  operator's username, `cli` or `system`).
- `verify_write_key` is the check behind an ingestion request; the API caches its answer for a
  few seconds (docs/decisions/0003-ingestion-api.md), so a revoked key stops working within
  that time, not at once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine

from userops.errors import InputError
from userops.settings import Settings
from userops.store import api_keys, audit
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import ApiKey
from userops.store.types import utcnow

KEY_MARK: Final = "uo_wk_"
"""What every write key starts with, so a leaked one is recognisable (e.g. by secret scanners)."""
PREFIX_CHARS: Final = api_keys.PREFIX_LENGTH
LAST_USED_EVERY: Final = timedelta(minutes=1)
"""`last_used_at` is refreshed at most this often per key, to keep verification a read."""


@dataclass(frozen=True, slots=True)
class WriteKeyInfo:
    """A stored write key as operators see it (never the secret)."""

    id: int
    name: str
    prefix: str  # the 8 characters after `uo_wk_`
    created_at: datetime
    created_by: int | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def shown_prefix(self) -> str:
        """How the key begins, e.g. `uo_wk_Ab3dE6gH`: enough to recognise it, not to use it."""
        return KEY_MARK + self.prefix

    @classmethod
    def of(cls, key: ApiKey) -> WriteKeyInfo:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            created_by=key.created_by,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.shown_prefix,
            "active": self.active,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


@dataclass(frozen=True, slots=True)
class NewWriteKey:
    """A key just created: `secret` exists only here and is never stored."""

    info: WriteKeyInfo
    secret: str

    def as_json(self) -> dict[str, Any]:
        return {**self.info.as_json(), "key": self.secret}


def hash_key(secret: str) -> str:
    """The sha256 hex digest under which a key is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return KEY_MARK + secrets.token_urlsafe(32)


def _prefix_of(secret: str) -> str:
    return secret.removeprefix(KEY_MARK)[:PREFIX_CHARS]


@contextmanager
def open_database(settings: Settings) -> Iterator[Engine]:
    """The application database at the current schema, for commands run outside the server."""
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def create_write_key(
    engine: Engine, *, name: str, actor: str, created_by: int | None = None
) -> NewWriteKey:
    """Make a new key and store its hash; the secret is in the result and nowhere else."""
    secret = generate_key()
    with session_scope(engine) as session:
        key = api_keys.create_api_key(
            session,
            name=name,
            key_hash=hash_key(secret),
            prefix=_prefix_of(secret),
            created_by=created_by,
        )
        audit.append_audit(
            session,
            actor=actor,
            action="keys.create",
            target=f"api_key:{key.id}",
            detail={"name": key.name, "prefix": KEY_MARK + key.prefix},
        )
        return NewWriteKey(WriteKeyInfo.of(key), secret)


def list_write_keys(engine: Engine, *, include_revoked: bool = True) -> list[WriteKeyInfo]:
    """Keys oldest first."""
    with session_scope(engine, read_only=True) as session:
        keys = api_keys.list_api_keys(session, include_revoked=include_revoked)
        return [WriteKeyInfo.of(key) for key in keys]


def parse_key_ref(ref: str) -> tuple[int | None, str | None]:
    """A key named on a command line: its id (`3`) or prefix (`uo_wk_Ab3dE6gH` or `Ab3dE6gH`)."""
    ref = ref.strip()
    if ref.isdigit():
        return int(ref), None
    prefix = ref.removeprefix(KEY_MARK)
    if not prefix or len(prefix) > PREFIX_CHARS:
        raise InputError(
            f"{ref!r} is neither a key id nor a key prefix ({KEY_MARK} and {PREFIX_CHARS} "
            "characters, as `userops keys list` shows)"
        )
    return None, prefix


def revoke_write_key(
    engine: Engine, *, actor: str, key_id: int | None = None, prefix: str | None = None
) -> WriteKeyInfo:
    """Revoke a key by id or prefix; revoking a revoked key changes nothing and is not audited."""
    if prefix is not None:
        prefix = prefix.removeprefix(KEY_MARK)
    now = utcnow()
    with session_scope(engine) as session:
        key = api_keys.revoke_api_key(session, key_id=key_id, prefix=prefix, at=now)
        if key.revoked_at == now:  # revoked by this call, not found revoked
            audit.append_audit(
                session,
                actor=actor,
                action="keys.revoke",
                target=f"api_key:{key.id}",
                detail={"name": key.name, "prefix": KEY_MARK + key.prefix},
            )
        return WriteKeyInfo.of(key)


def verify_write_key(engine: Engine, *, secret: str) -> int | None:
    """The id of the active key with this secret, else None.

    Refreshes the key's `last_used_at` when it is older than a minute (a short write), so the
    console can show which keys are still in use without a write on every request.
    """
    return verify_key_hash(engine, key_hash=hash_key(secret))


def verify_key_hash(engine: Engine, *, key_hash: str) -> int | None:
    """`verify_write_key` for a caller that already hashed the secret (the API's cache key)."""
    with session_scope(engine, read_only=True) as session:
        key = api_keys.find_active_key_by_hash(session, key_hash=key_hash)
        if key is None:
            return None
        key_id, last_used = key.id, key.last_used_at
    now = utcnow()
    if last_used is None or now - last_used >= LAST_USED_EVERY:
        with session_scope(engine) as session:
            stored = session.get(ApiKey, key_id)
            if stored is not None:
                stored.last_used_at = now
    return key_id

"""Write keys for event ingestion, kept as sha256 hashes.

The auth service generates a key, shows it once, and hands this module its hash and its first
characters (the prefix operators recognise in lists and use to revoke it).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from userops.errors import InputError
from userops.store.models import ApiKey, Operator
from userops.store.types import utcnow

PREFIX_LENGTH = 8
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def create_api_key(
    session: Session, *, name: str, key_hash: str, prefix: str, created_by: int | None
) -> ApiKey:
    """Store a new key's hash; a hash already stored is an `InputError` and stores nothing."""
    if not _SHA256_HEX.fullmatch(key_hash):
        raise InputError("key_hash must be the 64 lowercase hex digits of a sha256 digest")
    if not prefix or len(prefix) > PREFIX_LENGTH:
        raise InputError(f"key prefix {prefix!r} must have 1 to {PREFIX_LENGTH} characters")
    if not name.strip():
        raise InputError("API key name is empty; say what the key is for")
    if created_by is not None and session.get(Operator, created_by) is None:
        raise InputError(f"no operator with id {created_by} to own the API key")
    key = ApiKey(name=name.strip(), key_hash=key_hash, prefix=prefix, created_by=created_by)
    try:
        with session.begin_nested():
            session.add(key)
    except IntegrityError as exc:
        raise InputError(f"an API key with this hash already exists (prefix {prefix!r})") from exc
    return key


def find_active_key_by_hash(session: Session, *, key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash: the check behind every ingestion request."""
    statement = select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    return session.scalars(statement).one_or_none()


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """Keys oldest first."""
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(statement))


def revoke_api_key(
    session: Session,
    *,
    key_id: int | None = None,
    prefix: str | None = None,
    at: datetime | None = None,
) -> ApiKey:
    """Revoke one key named by id or by prefix; revoking a revoked key changes nothing.

    A prefix shared by several active keys is refused rather than guessed: revoking the wrong
    key stops a producer's events.
    """
    if (key_id is None) == (prefix is None):
        raise InputError("name the key to revoke by its id or by its prefix, not both")
    key = _by_id(session, key_id) if key_id is not None else _by_prefix(session, str(prefix))
    if key.revoked_at is None:
        key.revoked_at = at or utcnow()
        session.flush()
    return key


def _by_id(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise InputError(f"no API key with id {key_id}")
    return key


def _by_prefix(session: Session, prefix: str) -> ApiKey:
    matches = list(
        session.scalars(select(ApiKey).where(ApiKey.prefix == prefix).order_by(ApiKey.id.desc()))
    )
    if not matches:
        raise InputError(f"no API key with prefix {prefix!r}")
    active = [key for key in matches if key.revoked_at is None]
    if len(active) > 1:
        ids = ", ".join(str(key.id) for key in active)
        raise InputError(f"prefix {prefix!r} matches active keys {ids}; revoke by id instead")
    return active[0] if active else matches[0]

"""The Segment-compatible ingestion API: POST /v1/batch, /v1/track, /v1/identify, /v1/page,
/v1/screen, /v1/alias and /v1/group (docs/api.md, docs/decisions/0003-ingestion-api.md).

A request is authenticated by a write key, given as the HTTP Basic username (as Segment's SDKs
send it) or as `writeKey` in the body. Its messages become rows of the data contract
(`ingest.payloads`), which the group-commit writer (`ingest.writer`) checks and loads with the
bulk import's own rules and loaders. The answer comes after the commit: a 200 means the events
are on disk. Bad items get a 400 naming each one and why; the good items of the same request
are stored all the same, and the answer says how many.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

import anyio.to_thread
import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from sqlalchemy import Engine

from userops.domain.contract import MAX_BATCH_BYTES, MAX_EVENT_BYTES
from userops.ingest.payloads import CALLS, PayloadError, Rows, envelope, parse_body, to_rows
from userops.ingest.writer import GroupWriter, Outcome, WriterClosed, WriterUnavailable
from userops.membership import rules
from userops.services.keys import hash_key, verify_key_hash
from userops.services.runtime import Runtime
from userops.warehouse.connection import Warehouse

log = logging.getLogger("userops.ingest")

KEY_CACHE_SECONDS: Final = 5.0
"""How long a verified write key is trusted without asking the database again: a revoked key
stops working at most this long after `userops keys revoke`."""
_KEY_CACHE_MAX: Final = 10_000


class KeyCache:
    """Verified write keys (by sha256) for a few seconds, so requests do not each query the
    application database. Unknown keys are not cached: a new key works at once."""

    def __init__(self, engine: Engine, *, ttl: float = KEY_CACHE_SECONDS):
        self._engine = engine
        self.ttl = ttl
        self._until: dict[str, float] = {}

    async def valid(self, secret: str) -> bool:
        key_hash = hash_key(secret)
        now = time.monotonic()
        if self._until.get(key_hash, 0.0) > now:
            return True
        found = await anyio.to_thread.run_sync(
            partial(verify_key_hash, self._engine, key_hash=key_hash)
        )
        if found is None:
            self._until.pop(key_hash, None)
            return False
        if len(self._until) >= _KEY_CACHE_MAX:
            self._until.clear()
        self._until[key_hash] = now + self.ttl
        return True


@dataclass(frozen=True, slots=True)
class IngestState:
    writer: GroupWriter
    keys: KeyCache


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the writer over the server's warehouse; at shutdown, write what is queued first."""
    runtime: Runtime = app.state.runtime
    settings = runtime.settings

    def apply_incentive_rules(wh: Warehouse, batch: str) -> object:
        return rules.apply_batch(runtime.engine, wh, batch_id=batch, tz=settings.tz)

    writer = GroupWriter(runtime.warehouse, after_commit=apply_incentive_rules)
    app.state.ingest = IngestState(writer, KeyCache(runtime.engine))
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(writer.close)


router = APIRouter(prefix="/v1", tags=["ingestion"], lifespan=_lifespan)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="userops"'} if status == 401 else None
    if status in (429, 503):
        headers = {"Retry-After": "1"}
    body = {"success": False, "code": code, "message": message, **extra}
    return _json(status, body, headers)


def _basic_username(header: str | None) -> str | None:
    """The username of an HTTP Basic `Authorization` header (Segment's SDKs put the key there)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


_TOO_LARGE = f"over the {MAX_BATCH_BYTES}-byte limit (500 KB) of a request; nothing was stored"


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise PayloadError("batch_too_large", f"the body is {int(declared)} bytes, {_TOO_LARGE}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BATCH_BYTES:
            raise PayloadError("batch_too_large", f"the body is {_TOO_LARGE}")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip":
        return _gunzip(body)
    if encoding not in ("", "identity"):
        raise PayloadError(
            "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip"
        )
    return body


def _gunzip(data: bytes) -> bytes:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflate.decompress(data, MAX_BATCH_BYTES + 1)
    except zlib.error as exc:
        raise PayloadError("invalid_gzip", f"the body is not valid gzip: {exc}") from exc
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadError("batch_too_large", f"the unzipped body is {_TOO_LARGE}")
    if not inflate.eof:
        raise PayloadError("invalid_gzip", "the gzip body is truncated")
    return body


async def _authorised(state: IngestState, key: str | None) -> Response | None:
    """None when the key is good, else the 401 to answer."""
    if key is None:
        return _error(
            401,
            "missing_write_key",
            "no write key: send it as the HTTP Basic username (as Segment's SDKs do) "
            "or as writeKey in the body",
        )
    if not await state.keys.valid(key):
        return _error(401, "invalid_write_key", "unknown or revoked write key")
    return None


async def _ingest(request: Request, call: str) -> Response:
    state: IngestState = request.app.state.ingest
    received_at = datetime.now(UTC)
    header_key = _basic_username(request.headers.get("authorization"))
    if header_key is not None and (refusal := await _authorised(state, header_key)):
        return refusal
    with state.writer.arriving():
        try:
            body = await _read_body(request)
            sent = envelope(parse_body(body), call)
            if header_key is None and (refusal := await _authorised(state, sent.write_key)):
                return refusal
            rows = to_rows(
                sent.items,
                call=call,
                received_at=received_at,
                sent_at=sent.sent_at,
                context=sent.context,
                measure=call != "batch" or len(body) > MAX_EVENT_BYTES,
            )
        except PayloadError as exc:
            return _error(400, exc.code, str(exc), accepted=0, duplicates=0, rejected=[])
    outcome = Outcome(0, 0, ())
    if rows.events.num_rows:
        try:
            future = state.writer.submit(rows)
        except WriterUnavailable as exc:
            status = 503 if isinstance(exc, WriterClosed) else 429
            return _error(status, "unavailable", str(exc))
        try:
            outcome = await asyncio.wrap_future(future)
        except Exception as exc:
            log.exception("ingestion write failed")
            return _error(
                500,
                "write_failed",
                f"the events could not be stored ({exc}); nothing of this request was kept, retry",
            )
    return _answer(rows, outcome)


def _answer(rows: Rows, outcome: Outcome) -> Response:
    bad = [(item.index, item.message_id, item.reason) for item in rows.refused]
    bad += [(row - 1, rows.message_ids[row - 1], reason) for row, reason in outcome.rejected]
    rejected = [
        {"index": index, "messageId": message_id, "reason": reason}
        for index, message_id, reason in sorted(bad, key=lambda b: b[0])
    ]
    counts = {"accepted": outcome.accepted, "duplicates": outcome.duplicates}
    if not rejected:
        return _json(200, {"success": True, **counts})
    kept = outcome.accepted + outcome.duplicates
    first = rejected[0]
    message = (
        f"{len(rejected)} of {rows.items} messages rejected (each is named in `rejected`), "
        f"the first, at index {first['index']}: {first['reason']}; "
        f"the other {kept} were stored ({outcome.accepted} new, {outcome.duplicates} "
        "already stored)"
    )
    return _json(
        400,
        {
            "success": False,
            "code": "invalid_messages",
            "message": message,
            **counts,
            "rejected": rejected,
        },
    )


_REQUEST_BODY: Final = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": 'All messages stored (durably): {"success": true, "accepted", "duplicates"}'
    },
    400: {
        "description": "Some messages, or the request, rejected: `rejected` names each bad "
        "message (index, messageId, reason); the good ones were stored"
    },
    401: {"description": "Missing, unknown or revoked write key"},
    429: {"description": "Too much is waiting to be written; retry after `Retry-After`"},
}


def _endpoint(call: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _ingest(request, call)

    endpoint.__name__ = f"ingest_{call}"
    return endpoint


for _call in CALLS:
    router.add_api_route(
        f"/{_call}",
        _endpoint(_call),
        methods=["POST"],
        summary=f"Segment {_call} call" if _call != "batch" else "Segment batch of calls",
        description=(
            "Segment HTTP Tracking API. Authenticate with the write key as the HTTP Basic "
            "username or as `writeKey` in the body. At most 32 KB per message and 500 KB per "
            "request."
        ),
        response_class=Response,
        responses=_RESPONSES,
        openapi_extra={"requestBody": _REQUEST_BODY},
    )


@router.post("/{call}", include_in_schema=False)
async def unknown_call(call: str) -> Response:
    return _error(
        404,
        "unknown_call",
        f"/v1/{call} is not an ingestion call; use one of " + ", ".join(f"/v1/{c}" for c in CALLS),
    )

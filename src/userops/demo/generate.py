"""`generate_files`: the demo data set as users, events and items files in one folder.

Determinism is the contract: the same users, days, seed, end date, format and time zone give
byte-identical files on any machine, because every random stream is seeded from the seed and
the chunk number, and chunk sizes depend only on the window length. Work is chunked by people
so memory stays bounded for tens of millions of events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from userops.demo.calendar import Window, build_window
from userops.demo.catalog import Catalog, build_catalog
from userops.demo.encode import hex_ids, mix64, prefixed_ids
from userops.demo.files import (
    FORMATS,
    Format,
    TableFile,
    event_columns,
    events_schema,
    item_columns,
    items_schema,
    user_columns,
    users_schema,
)
from userops.demo.population import (
    Behaviour,
    Population,
    Visitors,
    build_population,
    build_visitors,
    concat_behaviour,
    email_parts,
    phone_numbers,
)
from userops.demo.simulation import (
    RawEvents,
    Texts,
    build_texts,
    simulate_users,
    simulate_visitors,
)
from userops.errors import InputError

MAX_USERS: Final = 50_000_000  # phone suffixes stay unique below 10**8
MAX_DAYS: Final = 3_660
# Simulated (user x day) cells per chunk: about 0.6 M events and a few hundred MB at most.
CELLS_PER_CHUNK: Final = 1_000_000
VISITORS_PER_CHUNK: Final = 200_000
USERS_FILE_CHUNK: Final = 500_000

# Independent random streams: (seed, stream[, chunk]).
_CATALOG, _PEOPLE, _USER_CHUNK, _VISITORS, _VISITOR_CHUNK, _IDS = range(6)


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """Where the files are and how many rows each holds."""

    users_path: Path
    events_path: Path
    items_path: Path
    users: int
    events: int
    items: int

    def as_json(self) -> dict[str, str | int]:
        return {
            "users_path": str(self.users_path),
            "events_path": str(self.events_path),
            "items_path": str(self.items_path),
            "users": self.users,
            "events": self.events,
            "items": self.items,
        }


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def _validate(users: int, days: int, seed: int, end: date, fmt: str) -> None:
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= MAX_USERS:
        raise InputError(f"users must be a whole number from 1 to {MAX_USERS:,}, got {users!r}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InputError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    if not isinstance(end, date) or end.year < 1971 or end.year > 9998:
        raise InputError(f"end must be a date between 1971 and 9998, got {end!r}")
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def users_per_chunk(days: int) -> int:
    return max(500, min(50_000, CELLS_PER_CHUNK // days))


@dataclass(frozen=True, slots=True)
class _World:
    """Everything drawn up front: the calendar, the shop, the people and their ids."""

    seed: int
    window: Window
    catalog: Catalog
    pop: Population
    visitors: Visitors
    behaviour: Behaviour
    texts: Texts
    device_ids: pa.Array
    message_prefix: str
    phone_prefixes: tuple[str, ...]
    phone_suffix: npt.NDArray[np.int64]


def _build_world(users: int, days: int, seed: int, end: date, tz: ZoneInfo) -> _World:
    window = build_window(end, days, tz)
    catalog = build_catalog(_rng(seed, _CATALOG))
    pop = build_population(_rng(seed, _PEOPLE), users, window)
    visitors, visitor_behaviour = build_visitors(_rng(seed, _VISITORS), users, window)
    # A short tag of everything that shapes the data keeps message and order ids of
    # different data sets apart when they are loaded into one warehouse.
    run = f"{seed}|{end}|{users}|{days}|{tz.key}"
    tag = hashlib.blake2b(run.encode(), digest_size=3).hexdigest()
    id_rng = _rng(seed, _IDS)
    salt = np.uint64(int(id_rng.integers(0, 2**63)))
    with np.errstate(over="ignore"):
        people = np.arange(users + visitors.size, dtype=np.uint64) + salt
    user_ids = prefixed_ids("U", np.arange(1, users + 1, dtype=np.int64), max(7, len(str(users))))
    phone_prefixes, phone_suffix = phone_numbers(id_rng, users)
    return _World(
        seed=seed,
        window=window,
        catalog=catalog,
        pop=pop,
        visitors=visitors,
        behaviour=concat_behaviour(pop.behaviour, visitor_behaviour),
        texts=build_texts(catalog, user_ids, tag),
        device_ids=hex_ids("dev-", mix64(people)),
        message_prefix=f"evt-{tag}-",
        phone_prefixes=phone_prefixes,
        phone_suffix=phone_suffix,
    )


def _write_users(world: _World, out: TableFile, fmt: Format) -> None:
    users = world.pop.size
    for lo in range(0, users, USERS_FILE_CHUNK):
        hi = min(users, lo + USERS_FILE_CHUNK)
        out.write(
            user_columns(
                world.pop,
                lo,
                hi,
                fmt=fmt,
                window=world.window,
                texts=world.texts,
                phone_prefixes=world.phone_prefixes,
                phone_suffix=world.phone_suffix,
                email_parts=email_parts(),
            )
        )


def _write_events(
    world: _World, out: TableFile, fmt: Format, progress: Callable[[int, int], None] | None
) -> None:
    users, visitors = world.pop.size, world.visitors.size
    total, done = users + visitors, 0

    def write(raw: RawEvents, people: int) -> None:
        nonlocal done
        columns = event_columns(
            raw,
            fmt=fmt,
            window=world.window,
            texts=world.texts,
            device_ids=world.device_ids,
            message_prefix=world.message_prefix,
            first_message=out.rows + 1,
        )
        out.write(columns)
        done += people
        if progress is not None:
            progress(done, total)

    step = users_per_chunk(world.window.days)
    orders = 1
    for chunk, lo in enumerate(range(0, users, step)):
        hi = min(users, lo + step)
        rng = _rng(world.seed, _USER_CHUNK, chunk)
        raw, orders = simulate_users(
            rng,
            world.pop,
            world.behaviour,
            world.window,
            world.catalog,
            world.texts,
            lo,
            hi,
            orders,
        )
        write(raw, hi - lo)
    for chunk, lo in enumerate(range(0, visitors, VISITORS_PER_CHUNK)):
        hi = min(visitors, lo + VISITORS_PER_CHUNK)
        rng = _rng(world.seed, _VISITOR_CHUNK, chunk)
        raw = simulate_visitors(
            rng,
            world.visitors,
            world.behaviour,
            users,
            world.window,
            world.catalog,
            world.texts,
            lo,
            hi,
        )
        write(raw, hi - lo)


def generate_files(
    out_dir: Path,
    *,
    users: int,
    days: int,
    seed: int,
    end: date,
    fmt: Format = "parquet",
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai"),  # noqa: B008 - immutable and cached by zoneinfo
    progress: Callable[[int, int], None] | None = None,
) -> DemoFiles:
    """Simulate `users` users over the `days` local days ending on `end` and write
    users.<fmt>, events.<fmt> and items.<fmt> into `out_dir`.

    `progress(done, total)` is called after each chunk, counting simulated people (registered
    users, then anonymous visitors). The three files replace earlier ones together, at the
    end: if anything fails, the folder keeps what it had."""
    _validate(users, days, seed, end, fmt)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    world = _build_world(users, days, seed, end, tz)

    paths = {kind: out_dir / f"{kind}.{fmt}" for kind in ("users", "events", "items")}
    outputs = [
        TableFile(paths["items"], fmt, items_schema(fmt), {"price"}),
        TableFile(paths["users"], fmt, users_schema(fmt), set()),
        TableFile(paths["events"], fmt, events_schema(fmt), set()),
    ]
    items_file, users_file, events_file = outputs
    try:
        items_file.write(item_columns(world.catalog, fmt))
        _write_users(world, users_file, fmt)
        _write_events(world, events_file, fmt, progress)
        for output in outputs:
            output.close()
    except BaseException:
        for output in outputs:
            output.abort()
        raise
    for output in outputs:
        output.commit()
    return DemoFiles(
        users_path=paths["users"],
        events_path=paths["events"],
        items_path=paths["items"],
        users=users,
        events=events_file.rows,
        items=world.catalog.size,
    )

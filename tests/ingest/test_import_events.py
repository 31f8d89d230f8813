"""The event contract through bulk import: formats, checks, quarantine, dedup, strict mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from userops.errors import InputError
from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

from .conftest import write

HEADER = "message_id,type,event,user_id,anonymous_id,timestamp,properties"


def run(wh: Warehouse, tmp_path: Path, *paths: Path, **kw: object):
    return import_files(wh, "events", list(paths), quarantine_dir=tmp_path / "q", **kw)  # type: ignore[arg-type]


def rows(wh: Warehouse, sql: str) -> list[tuple]:
    return wh.sql(sql)


def quarantined(path: str | None) -> list[dict]:
    assert path is not None
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_csv_contract_values_are_stored_typed(warehouse: Warehouse, tmp_path: Path) -> None:
    f = write(
        tmp_path / "e.csv",
        HEADER + ",coupon\n"
        'm1,track,purchase,u1,a1,2026-11-01T10:00:00+08:00,"{""revenue"": 12.5, '
        '""currency"": ""CNY"", ""item_id"": ""sku-1"", ""category"": ""shoes""}",SAVE5\n'
        "m2,page,home,,a2,2026-11-01 00:00:30,,\n",
    )
    summary = run(warehouse, tmp_path, f)
    assert summary.as_json() == {"accepted": 2, "rejected": 0, "duplicates": 0, "quarantine": None}
    got = rows(
        warehouse,
        "SELECT message_id, type, event, user_id, anonymous_id, timestamp, revenue, currency, "
        "item_id, category, properties FROM events ORDER BY message_id",
    )
    m1, m2 = got
    assert m1[:5] == ("m1", "track", "purchase", "u1", "a1")
    assert m1[5].astimezone(UTC) == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    assert m1[6:10] == (Decimal("12.50"), "CNY", "sku-1", "shoes")
    assert json.loads(m1[10]) == {
        "revenue": 12.5,
        "currency": "CNY",
        "item_id": "sku-1",
        "category": "shoes",
        "coupon": "SAVE5",
    }
    # A naive time is local (Asia/Shanghai): 00:00:30 local is 16:00:30 UTC the day before.
    assert m2[5].astimezone(UTC) == datetime(2026, 10, 31, 16, 0, 30, tzinfo=UTC)
    assert m2[1:3] == ("page", "home")


def test_jsonl_and_parquet_give_the_same_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    records = [
        {
            "message_id": "j1",
            "type": "track",
            "event": "view_item",
            "user_id": "u1",
            "timestamp": "2026-11-01T23:59:00+08:00",
            "properties": {"item_id": 7, "price": 9.9},
        },
        {
            "message_id": "j2",
            "event": "purchase",
            "anonymous_id": "a9",
            "timestamp": "2026-11-02T00:01:00+08:00",
            "properties": {"revenue": "19.90"},
            "context": {"os": {"name": "iOS"}},
            "campaign": "double11",
        },
    ]
    jl = tmp_path / "e.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert run(warehouse, tmp_path, jl).accepted == 2
    table = pa.table(
        {
            "message_id": ["p1", "p2"],
            "event": ["view_item", "purchase"],
            "user_id": ["u1", None],
            "anonymous_id": [None, "a9"],
            "timestamp": pa.array(
                [
                    datetime(2026, 11, 1, 15, 59, tzinfo=UTC),
                    datetime(2026, 11, 1, 16, 1, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "properties": ['{"item_id": 7, "price": 9.9}', '{"revenue": "19.90"}'],
            "context": [None, '{"os": {"name": "iOS"}}'],
            "campaign": [None, "double11"],
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    assert run(warehouse, tmp_path, tmp_path / "e.parquet").accepted == 2
    got = rows(
        warehouse,
        "SELECT substr(message_id, 2), type, event, user_id, anonymous_id, timestamp, revenue, "
        "item_id, properties->>'campaign', context->'os'->>'name' FROM events ORDER BY 1, 1",
    )
    by_source: dict[str, list[tuple]] = {}
    for r in got:
        by_source.setdefault(r[0], []).append(r[1:])
    assert by_source["1"][0] == by_source["1"][1]
    assert by_source["2"][0] == by_source["2"][1]
    assert by_source["2"][0][5] == Decimal("19.90")
    assert by_source["2"][0][7] == "double11"
    assert by_source["1"][0][6] == "7"


BAD_ROWS = [
    ("m,track,x,,,2026-11-01T10:00:00Z,", "missing id: user_id or anonymous_id is required"),
    ("m,track,x,u,,yesterday,", 'timestamp "yesterday" is not an ISO-8601 time'),
    ("m,track,x,u,,,", "missing timestamp"),
    ("m,track,x,u,,2026-13-45T10:00:00,", "is not an ISO-8601 time"),
    ("m,track,x,u,,1900-01-01T00:00:00Z,", "is out of range"),
    ("m,click,x,u,,2026-11-01T10:00:00Z,", 'type "click" is not one of track'),
    ("m,track,,u,,2026-11-01T10:00:00Z,", "missing event: a track needs an event name"),
    ("m,alias,,u,,2026-11-01T10:00:00Z,", "an alias needs previous_id and user_id"),
    ('m,track,x,u,,2026-11-01T10:00:00Z,"[1, 2]"', "properties is not a JSON object"),
    ('m,track,x,u,,2026-11-01T10:00:00Z,"{not json"', "properties is not a JSON object"),
    (
        'm,track,x,u,,2026-11-01T10:00:00Z,"{""revenue"": ""ten""}"',
        'properties.revenue "ten" is not a number',
    ),
    ('m,track,x,u,,2026-11-01T10:00:00Z,"{""revenue"": 1e30}"', "is not a number within"),
    ('m,track,x,u,,2026-11-01T10:00:00Z,"{""revenue"": [1]}"', "is not a number"),
    (f"m,track,x,{'u' * 300},,2026-11-01T10:00:00Z,", "user_id is longer than 256 characters"),
    (
        f'm,track,x,u,,2026-11-01T10:00:00Z,"{{""blob"": ""{"x" * 40000}""}}"',
        "bytes, over the 32768-byte limit",
    ),
]


@pytest.mark.parametrize(("line", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_bad_row_is_quarantined_with_row_and_reason(
    warehouse: Warehouse, tmp_path: Path, line: str, reason: str
) -> None:
    good = "ok1,track,app_open,u1,,2026-11-01T10:00:00Z,"
    f = write(tmp_path / "e.csv", f"{HEADER}\n{good}\n{line}\n")
    summary = run(warehouse, tmp_path, f)
    assert (summary.accepted, summary.rejected, summary.duplicates) == (1, 1, 0)
    [entry] = quarantined(summary.quarantine)
    assert entry["row"] == 3  # line 3 of the file: header, good row, bad row
    assert reason in entry["reason"]
    assert entry["source"] == str(f)
    assert entry["record"]["message_id"] == "m"
    assert rows(warehouse, "SELECT message_id FROM events") == [("ok1",)]


def test_malformed_csv_line_is_quarantined_and_later_rows_keep_their_line(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    f = write(
        tmp_path / "e.csv",
        f"{HEADER}\nm1,track,a,u,,2026-11-01T10:00:00Z,\n"
        "m2,track,a,u,,2026-11-01T10:00:00Z,,extra,fields\n"
        "m3,track,a,,,2026-11-01T10:00:00Z,\n",
    )
    summary = run(warehouse, tmp_path, f)
    assert (summary.accepted, summary.rejected) == (1, 2)
    entries = quarantined(summary.quarantine)
    assert [e["row"] for e in entries] == [3, 4]
    assert entries[0]["reason"].startswith("malformed CSV line")
    assert "missing id" in entries[1]["reason"]
    # the malformed line is kept as it is in the file, so it can be fixed
    assert entries[0]["record"] is None
    assert entries[0]["raw"] == "m2,track,a,u,,2026-11-01T10:00:00Z,,extra,fields"
    assert entries[1]["raw"] is None and entries[1]["record"]["message_id"] == "m3"


def test_jsonl_line_that_is_not_an_object(warehouse: Warehouse, tmp_path: Path) -> None:
    f = tmp_path / "e.jsonl"
    f.write_text(
        '{"event": "a", "user_id": "u", "timestamp": "2026-11-01T10:00:00Z"}\n'
        '{"event": "a", "user_id": \n'
        "[1, 2]\n"
    )
    summary = run(warehouse, tmp_path, f)
    assert (summary.accepted, summary.rejected) == (1, 2)
    assert [
        (e["row"], e["reason"], e["record"], e["raw"]) for e in quarantined(summary.quarantine)
    ] == [
        (2, "line is not a JSON object", None, '{"event": "a", "user_id": '),
        (3, "line is not a JSON object", None, "[1, 2]"),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_csv_rows_keep_their_file_line_after_multi_line_fields_and_blank_lines(
    warehouse: Warehouse, tmp_path: Path, newline: str
) -> None:
    lines = [
        HEADER,  # 1
        "m1,track,a,u,,2026-11-01T10:00:00Z,",  # 2
        'm2,track,a,u,,2026-11-01T10:00:00Z,"{""note"": ""two"",',  # 3
        '""lines"": 2}"',  # 4
        "m3,track,a,u,,yesterday,",  # 5: bad
        "",  # 6: blank
        'm4,track,a,u,,2026-11-01T10:00:00Z,"{""a"": ""x""}",extra',  # 7: malformed
        'm5,track,a,,,"2026-11-01T10:00:00Z","{""city"": ""Hangzhou"",',  # 8: bad, 3 lines
        "",  # 9, inside the quoted field
        '""district"": ""Xihu""}"',  # 10
        "m6,track,a,u,,2026-11-01T10:00:00Z,,too,many",  # 11: malformed
        "m7,click,a,u,,2026-11-01T10:00:00Z,",  # 12: bad
        "m8,track,a,u,,2026-11-01T10:00:00Z,",  # 13
    ]
    f = tmp_path / "e.csv"
    f.write_bytes((newline.join(lines) + newline).encode())
    summary = run(warehouse, tmp_path, f)
    assert (summary.accepted, summary.rejected) == (3, 5)
    entries = quarantined(summary.quarantine)
    assert [(e["row"], e["record"] and e["record"]["message_id"]) for e in entries] == [
        (5, "m3"),
        (7, None),
        (8, "m5"),
        (11, None),
        (12, "m7"),
    ]
    assert entries[2]["record"]["properties"] == (
        f'{{"city": "Hangzhou",{newline}{newline}"district": "Xihu"}}'
    )
    assert entries[1]["raw"] == lines[6] and entries[3]["raw"] == lines[10]
    with pytest.raises(InputError, match=r"e\.csv: row 5: timestamp \"yesterday\""):
        run(warehouse, tmp_path, f, strict=True)
    g = tmp_path / "g.csv"
    g.write_bytes(newline.join([*lines[:4], *lines[5:7], lines[12]]).encode() + newline.encode())
    with pytest.raises(InputError, match=r"g\.csv: row 6: malformed CSV line"):
        run(warehouse, tmp_path, g, strict=True)


def test_a_malformed_csv_line_longer_than_duckdb_keeps_is_quarantined_whole(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    long = 'm2,track,a,u,,2026-11-01T10:00:00Z,"{""blob"": ""' + "x" * 20_000 + '\n""}",extra'
    f = write(tmp_path / "e.csv", f"{HEADER}\nm1,track,a,u,,2026-11-01T10:00:00Z,\n{long}\n")
    summary = run(warehouse, tmp_path, f)
    [entry] = quarantined(summary.quarantine)
    assert (entry["row"], entry["record"], entry["raw"]) == (3, None, long)


def test_nan_and_infinity_in_a_parquet_file_are_quarantined(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    nan, inf = float("nan"), float("inf")
    table = pa.table(
        {
            "message_id": ["p1", "p2", "p3", "p4", "p5"],
            "user_id": ["u"] * 5,
            "event": ["buy"] * 5,
            "timestamp": ["2026-11-01T10:00:00Z"] * 5,
            "revenue": [1.5, nan, -inf, 2.0, 3.0],
            "price": [9.9, 9.9, 9.9, inf, 9.9],
            "context": pa.array([{"screen": {"density": d}} for d in (2.0, 2.0, 2.0, 2.0, nan)]),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    summary = run(warehouse, tmp_path, tmp_path / "e.parquet")
    assert (summary.accepted, summary.rejected) == (1, 4)
    entries = quarantined(summary.quarantine)
    assert [(e["row"], e["reason"]) for e in entries] == [
        (2, 'properties.revenue "NaN" is not a number within ±10^16'),
        (3, 'properties.revenue "-Infinity" is not a number within ±10^16'),
        (4, "properties.price holds NaN or Infinity, which JSON does not allow"),
        (5, "context.screen holds NaN or Infinity, which JSON does not allow"),
    ]
    # the record as the file has it: JSON has no NaN, so the quarantine spells it as a string
    assert entries[0]["record"]["revenue"] == "NaN"
    assert entries[3]["record"]["context"] == {"screen": {"density": "NaN"}}
    assert rows(warehouse, "SELECT message_id, revenue, properties FROM events") == [
        ("p1", Decimal("1.50"), '{"revenue":1.5,"price":9.9}')
    ]
    assert not list((tmp_path / "q").glob("*.part"))


def test_nan_and_infinity_in_json_texts_are_quarantined(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    f = tmp_path / "e.jsonl"
    f.write_text(
        '{"message_id": "j1", "user_id": "u", "event": "a", "timestamp": "2026-11-01T10:00:00Z",'
        ' "properties": {"words": "NaN and Infinity are words here"}}\n'
        '{"message_id": "j2", "user_id": "u", "event": "a", "timestamp": "2026-11-01T10:00:00Z",'
        ' "properties": {"ok": 1, "sizes": [1, NaN]}}\n'
    )
    g = write(
        tmp_path / "e.csv",
        f'{HEADER}\nc1,track,a,u,,2026-11-01T10:00:00Z,"{{""score"": -Infinity}}"\n',
    )
    summary = run(warehouse, tmp_path, f, g)
    assert (summary.accepted, summary.rejected) == (1, 2)
    assert [e["reason"] for e in quarantined(summary.quarantine)] == [
        "properties.sizes holds NaN or Infinity, which JSON does not allow",
        "properties.score holds NaN or Infinity, which JSON does not allow",
    ]
    assert rows(warehouse, "SELECT message_id FROM events") == [("j1",)]


def test_same_file_twice_stores_nothing_twice(warehouse: Warehouse, tmp_path: Path) -> None:
    f = write(
        tmp_path / "e.csv",
        f"{HEADER}\nm1,track,a,u,,2026-11-01T10:00:00Z,\nm1,track,a,u,,2026-11-01T10:00:00Z,\n"
        ",track,b,u,,2026-11-01T10:00:00Z,\n,track,b,u,,2026-11-01T10:00:00Z,\n"
        ",track,b,u,,2026-11-01T10:00:01Z,\n",
    )
    first = run(warehouse, tmp_path, f)
    assert (first.accepted, first.duplicates) == (3, 2)
    second = run(warehouse, tmp_path, f)
    assert (second.accepted, second.duplicates) == (0, 5)
    ids = [r[0] for r in rows(warehouse, "SELECT message_id FROM events ORDER BY 1")]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert sum(i.startswith("h-") for i in ids) == 2


def test_strict_rejects_everything_on_first_bad_row(warehouse: Warehouse, tmp_path: Path) -> None:
    f = write(
        tmp_path / "e.csv",
        f"{HEADER}\nm1,track,a,u,,2026-11-01T10:00:00Z,\nm2,track,a,u,,soon,\nm3,track,a,,,x,\n",
    )
    with pytest.raises(InputError, match=r"e\.csv: row 3: timestamp \"soon\" .*--strict"):
        run(warehouse, tmp_path, f, strict=True)
    assert rows(warehouse, "SELECT count(*) FROM events") == [(0,)]


def test_column_mapping_and_its_errors(warehouse: Warehouse, tmp_path: Path) -> None:
    f = write(tmp_path / "e.csv", "uid,name,at\nu1,login,2026-11-01T10:00:00Z\n")
    with pytest.raises(InputError, match=r"no column 'timestamp' .*--map timestamp=COLUMN"):
        run(warehouse, tmp_path, f)
    with pytest.raises(InputError, match=r"--map timestamp=when: no column 'when'"):
        run(warehouse, tmp_path, f, mapping={"timestamp": "when"})
    summary = run(
        warehouse, tmp_path, f, mapping={"timestamp": "at", "user_id": "uid", "event": "name"}
    )
    assert summary.accepted == 1
    assert rows(warehouse, "SELECT user_id, event, properties FROM events") == [
        ("u1", "login", None)
    ]


def test_parquet_column_of_wrong_type_names_the_column(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    pq.write_table(
        pa.table({"user_id": ["u"], "event": ["a"], "timestamp": pa.array([12], pa.int64())}),
        tmp_path / "e.parquet",
    )
    with pytest.raises(InputError, match=r"column 'timestamp' \(timestamp\) has type BIGINT"):
        run(warehouse, tmp_path, tmp_path / "e.parquet")


def test_unknown_file_type_and_missing_file(warehouse: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown file type '\.xlsx'"):
        run(warehouse, tmp_path, write(tmp_path / "e.xlsx", "x"))
    with pytest.raises(InputError, match="no such file"):
        run(warehouse, tmp_path, tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("timezone", "utc_hour", "utc_day"),
    [("Asia/Shanghai", 16, 31), ("UTC", 0, 1), ("America/New_York", 4, 1)],
)
def test_naive_times_are_read_in_the_configured_zone(
    tmp_path: Path, timezone: str, utc_hour: int, utc_day: int
) -> None:
    settings = Settings(data_dir=tmp_path / "d", timezone=timezone)
    f = write(tmp_path / "e.csv", f"{HEADER}\nm1,track,a,u,,2026-11-01 00:00:00,\n")
    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        run(wh, tmp_path, f)
        [(ts,)] = wh.sql("SELECT timestamp FROM events")
    utc = ts.astimezone(UTC)
    month = 10 if utc_day == 31 else 11
    assert (utc.month, utc.day, utc.hour) == (month, utc_day, utc_hour)


def test_identities_link_first_user_seen_whatever_the_import_order(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    later = write(
        tmp_path / "later.csv",
        "message_id,type,user_id,anonymous_id,timestamp,previous_id\n"
        "i2,identify,u2,a1,2026-11-03T10:00:00Z,\n"
        "al,alias,u3,,2026-11-04T10:00:00Z,a7\n",
    )
    earlier = write(
        tmp_path / "earlier.csv",
        "message_id,type,event,user_id,anonymous_id,timestamp\n"
        "t0,track,view,,a1,2026-11-01T09:00:00Z\n"
        "i1,identify,,u1,a1,2026-11-01T10:00:00Z\n",
    )
    run(warehouse, tmp_path, later)
    run(warehouse, tmp_path, earlier)
    assert rows(warehouse, "SELECT anonymous_id, user_id, source FROM identities ORDER BY 1") == [
        ("a1", "u1", "identify"),
        ("a7", "u3", "alias"),
    ]

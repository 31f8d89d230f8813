"""Channel costs import: sums per (date, channel), replace on re-import, one error naming every
bad row with nothing stored, CSV and Parquet, and the CLI command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from userops.analytics.costs import import_costs, read_costs
from userops.cli import app
from userops.errors import InputError
from userops.settings import Settings, get_settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = open_warehouse(Settings(data_dir=tmp_path / "d"))
    init_warehouse(warehouse)
    try:
        yield warehouse
    finally:
        warehouse.close()


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _stored(wh: Warehouse) -> list[tuple[str, str, Decimal, str | None]]:
    rows = wh.sql(
        "SELECT CAST(date AS VARCHAR), channel, amount, currency FROM costs ORDER BY 1, 2"
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_rows_of_a_day_and_channel_add_up_and_reimport_replaces(
    tmp_path: Path, wh: Warehouse
) -> None:
    first = _csv(
        tmp_path / "c.csv",
        "\ufeffdate,channel,amount,currency\n"
        "2026-11-01,feed_ads,100.10,CNY\n"
        "2026-11-01,feed_ads,20.005,CNY\n"  # half-up to cents: 20.01
        "2026-11-01,referral,0,\n"
        "2026-11-02, 百度 ,5,cny\n",
    )
    done = import_costs(wh, first)
    assert (done.rows, done.added, done.replaced, done.total) == (4, 3, 0, Decimal("125.11"))
    assert _stored(wh) == [
        ("2026-11-01", "feed_ads", Decimal("120.11"), "CNY"),
        ("2026-11-01", "referral", Decimal("0.00"), None),
        ("2026-11-02", "百度", Decimal("5.00"), "CNY"),
    ]
    again = import_costs(wh, first)
    assert (again.added, again.replaced) == (0, 3)
    assert len(_stored(wh)) == 3
    fix = _csv(tmp_path / "fix.csv", "channel,date,amount\nfeed_ads,2026-11-01,99\n")
    assert import_costs(wh, fix).replaced == 1
    assert _stored(wh)[0][2] == Decimal("99.00")


def test_bad_rows_are_all_named_and_nothing_is_stored(tmp_path: Path, wh: Warehouse) -> None:
    bad = _csv(
        tmp_path / "bad.csv",
        "date,channel,amount\n"
        "2026-11-01,feed_ads,10\n"
        "2026/11/02,feed_ads,10\n"
        "2026-11-03,,10\n"
        "2026-11-04,social,ten\n"
        "2026-11-05,social,-3\n"
        "2026-11-06,social,\n",
    )
    with pytest.raises(InputError) as caught:
        import_costs(wh, bad)
    message = str(caught.value)
    assert "5 bad rows, nothing imported" in message
    for part in (
        "row 3: date '2026/11/02' is not YYYY-MM-DD",
        "row 4: missing channel",
        "row 5: amount 'ten' is not a number",
        "row 6: amount '-3' is negative",
        "row 7: missing amount",
    ):
        assert part in message
    assert "\n" not in message
    assert _stored(wh) == []


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "day,channel,amount\n2026-11-01,x,1\n", "missing column date"),
        ("b.csv", "date,channel,amount\n", "no rows"),
        ("c.txt", "date,channel,amount\n", "costs are read from .csv or .parquet files"),
        (
            "d.csv",
            "date,channel,amount,currency\n2026-11-01,x,1,yuan\n",
            "'yuan' is not a 3-letter",
        ),
        (
            "e.csv",
            "date,channel,amount,currency\n2026-11-01,x,1,CNY\n2026-11-01,x,1,USD\n",
            "x on 2026-11-01 has currency USD and CNY in another row",
        ),
    ],
)
def test_file_level_errors(
    tmp_path: Path, wh: Warehouse, name: str, text: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        import_costs(wh, _csv(tmp_path / name, text))


def test_parquet_with_types(tmp_path: Path) -> None:
    from datetime import date

    table = pa.table(
        {
            "date": pa.array([date(2026, 11, 1), date(2026, 11, 2)]),
            "channel": ["a", "b"],
            "amount": pa.array([Decimal("1.50"), Decimal("2.25")], pa.decimal128(10, 2)),
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    rows = read_costs(tmp_path / "c.parquet")
    assert rows == [
        (1, date(2026, 11, 1), "a", Decimal("1.50"), None),
        (2, date(2026, 11, 2), "b", Decimal("2.25"), None),
    ]


def test_cli_import_costs(tmp_path: Path) -> None:
    path = _csv(tmp_path / "c.csv", "date,channel,amount\n2026-11-01,feed_ads,100\n")
    env = {"USEROPS_DATA_DIR": str(tmp_path / "data")}
    get_settings.cache_clear()  # the process-wide settings must come from env
    done = CliRunner().invoke(app, ["import", "costs", str(path), "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "source": str(path),
        "rows": 1,
        "added": 1,
        "replaced": 0,
        "total": "100.00",
    }
    human = CliRunner().invoke(app, ["import", "costs", str(path)], env=env)
    get_settings.cache_clear()
    assert "1 rows, 0 new days, 1 replaced, total 100.00" in human.output

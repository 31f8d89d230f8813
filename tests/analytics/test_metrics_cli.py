"""`userops metrics ...`: JSON equal to the reference, tables for people, one-line errors, and a
read-only warehouse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from tests.analytics import reference as ref
from tests.analytics.data import World, generate, resolve, write
from userops.cli import app
from userops.errors import InputError
from userops.ingest.pipeline import import_files
from userops.settings import Settings, get_settings
from userops.warehouse.connection import init_warehouse, open_warehouse

ZONE = "Asia/Shanghai"


@dataclass
class Data:
    env: dict[str, str]
    world: World

    def run(self, *args: str) -> Result:
        get_settings.cache_clear()  # the process-wide settings must come from self.env
        try:
            return CliRunner().invoke(app, ["metrics", *args], env=self.env)
        finally:
            get_settings.cache_clear()

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.exit_code == 0, (done.output, done.exception)
        return json.loads(done.output)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    folder = tmp_path_factory.mktemp("cli")
    rows, users = generate(3, ZoneInfo(ZONE))
    events_csv, users_csv = write(rows, users, folder)
    settings = Settings(data_dir=folder / "data", timezone=ZONE)
    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        import_files(wh, "users", [users_csv], quarantine_dir=folder / "q")
        import_files(wh, "events", [events_csv], quarantine_dir=folder / "q")
    env = {"USEROPS_DATA_DIR": str(settings.data_dir), "USEROPS_TIMEZONE": ZONE, "COLUMNS": "200"}
    yield Data(env, resolve(rows, users, ZoneInfo(ZONE)))


RANGE = ("--from", "2026-10-07", "--to", "2026-11-20")


def test_active_json(data: Data) -> None:
    got = data.json(
        "active",
        "--period",
        "week",
        *RANGE,
        "--where",
        "channel=referral,social",
        "--where",
        "prop.category=shoes",
        "--by",
        "city",
    )
    want = ref.active(data.world, ref.CASES[1], "week", date(2026, 10, 7), date(2026, 11, 20))
    assert got == want
    event = data.json("active", "--period", "month", *RANGE, "--event", "purchase")
    assert set(event) == {"period", "series"}
    assert set(event["series"][0]) == {"date", "active"}


def test_retention_json(data: Data) -> None:
    got = data.json(
        "retention",
        "--period",
        "week",
        "--periods",
        "3",
        *RANGE,
        "--unbounded",
        "--return-event",
        "purchase",
        "--cohort",
        "signup",
    )
    want = ref.retention(
        data.world,
        ref.CASES[0],
        "week",
        3,
        date(2026, 10, 7),
        date(2026, 11, 20),
        basis="signup",
        return_event="purchase",
        unbounded=True,
    )
    assert got == want


def test_revenue_channels_lifecycle_json(data: Data) -> None:
    start, end = date(2026, 10, 7), date(2026, 11, 20)
    case = ref.CASES[4]
    where = [arg for w in case.where for arg in ("--where", w)]
    assert data.json(
        "revenue", "--period", "week", *RANGE, "--within", "3", *where, "--by", "channel"
    ) == ref.revenue(data.world, case, "week", start, end, 3)
    assert data.json("lifecycle", "--period", "day", *RANGE) == ref.lifecycle(
        data.world, ref.CASES[0], "day", start, end
    )
    got = data.json("channels", *RANGE, "--activation-event", "view_item")
    assert got == ref.channels(data.world, ref.CASES[0], start, end, activation_event="view_item")
    assert got["total"]["cost"] is None  # no costs imported here
    assert data.json("stickiness", *RANGE) == ref.stickiness(data.world, ref.CASES[0], start, end)
    assert data.json("new", "--period", "month", *RANGE, "--by", "channel") == ref.new_users(
        data.world, ref.Case("by-channel", by="channel"), "month", start, end
    )


@pytest.mark.parametrize(
    "args",
    [
        ["active", "--period", "week", *RANGE, "--by", "channel"],
        ["stickiness", *RANGE],
        ["new", *RANGE],
        ["retention", "--period", "week", "--periods", "4", *RANGE, "--by", "gender"],
        ["revenue", "--period", "month", *RANGE],
        ["channels", *RANGE],
        ["lifecycle", *RANGE, "--by", "city"],
    ],
    ids=lambda a: a[0],
)
def test_tables_for_people(data: Data, args: list[str]) -> None:
    done = data.run(*args)
    assert done.exit_code == 0, (done.output, done.exception)
    assert done.output.count("\n") > 3


def test_default_range_is_the_last_30_local_days(data: Data) -> None:
    got = data.json("active")
    today = datetime_now(ZONE)
    assert len(got["series"]) == 30 and got["series"][-1]["date"] == today.isoformat()


def datetime_now(zone: str) -> date:
    from datetime import datetime

    return datetime.now(ZoneInfo(zone)).date()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["active", "--where", "chanel=x"], "unknown filter field 'chanel'"),
        (["active", "--period", "year"], "period 'year' is not one of day, week, month"),
        (["active", "--from", "2026-13-01"], "--from '2026-13-01' is not a date"),
        (["active", *RANGE[:2], "--to", "2026-01-01"], "starts (2026-10-07) after it ends"),
        (["new", "--where", "prop.category=shoes"], "event property filters do not apply"),
        (["retention", "--cohort", "install"], "cohort 'install' is not one of"),
        (["lifecycle", "--by", "prop.x"], "unknown breakdown field 'prop.x'"),
    ],
)
def test_errors(data: Data, args: list[str], message: str) -> None:
    done = data.run(*args)
    assert done.exit_code != 0
    assert isinstance(done.exception, InputError)
    assert message in str(done.exception)


def test_reads_while_another_reader_has_the_file(data: Data) -> None:
    settings = Settings(data_dir=Path(data.env["USEROPS_DATA_DIR"]), timezone=ZONE)
    with open_warehouse(settings, read_only=True):
        # the command opens its own read-only connection beside this one
        assert data.json("active", *RANGE)["period"] == "day"

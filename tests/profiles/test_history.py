"""Migration between two refresh days: the matrix and the Sankey data equal a pandas cross
table of the reference tags on both days, users tagged on one day only fall under null, and
days without a snapshot use the latest one before them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from tests.profiles import reference as ref
from tests.profiles.conftest import Refreshable
from tests.profiles.tag_data import TODAY, frames
from userops.errors import InputError
from userops.profiles import computed, history, refresh

DAY1 = TODAY - timedelta(days=50)


def _params() -> dict[str, dict[str, Any]]:
    return {m: computed.parse_params(m, None) for m in ("rfm", "lifecycle", "grade", "intent",
                                                       "activity")}  # fmt: skip


def _expected(fresh: Refreshable, tag: str) -> dict[tuple[str | None, str | None], int]:
    before = ref.builtin_tags(frames(fresh.world.raw, DAY1), _params())[tag].value
    after = ref.builtin_tags(fresh.world.frames, _params())[tag].value
    both = pd.concat([before.rename("before"), after.rename("after")], axis=1)
    counts = both.value_counts(dropna=False)

    def value(v: Any) -> str | None:
        return None if pd.isna(v) else str(v)

    return {(value(b), value(a)): int(n) for (b, a), n in counts.items()}


@pytest.fixture
def two_days(fresh: Refreshable) -> Refreshable:
    with fresh.warehouse() as wh:
        for day in (DAY1, TODAY):
            run = refresh.refresh_tags(
                fresh.engine, lambda: refresh.lend(wh), today=day, tz=fresh.settings.tz
            )
            assert run.status == "succeeded"
    return fresh


@pytest.mark.parametrize("tag", ["lifecycle_stage", "rfm_group", "value_grade"])
def test_migration_matrix_equals_the_reference_cross_table(two_days: Refreshable, tag: str) -> None:
    with two_days.warehouse() as wh:
        result = history.migration(two_days.engine, wh, tag=tag, start=DAY1, end=TODAY)
    expected = _expected(two_days, tag)
    got = {(c.before, c.after): c.users for c in result.cells}
    assert got == expected
    assert (result.start, result.end) == (DAY1, TODAY)
    data = result.as_json()
    assert data["users"] == sum(expected.values())
    assert data["moved"] == sum(n for (b, a), n in expected.items() if b != a)
    for row in data["matrix"]:
        assert row["total"] == sum(c["users"] for c in row["to"])
        for cell in row["to"]:
            assert cell["users"] == expected.get((row["from"], cell["value"]), 0)
    sankey = data["sankey"]
    names = [n["name"] for n in sankey["nodes"]]
    assert len(names) == len(set(names))
    assert sum(link["value"] for link in sankey["links"]) == data["users"]
    assert {link["source"] for link in sankey["links"]} | {
        link["target"] for link in sankey["links"]
    } == set(names)


def test_values_come_in_the_tags_order_with_names(two_days: Refreshable) -> None:
    with two_days.warehouse() as wh:
        result = history.migration(
            two_days.engine, wh, tag="lifecycle_stage", start=DAY1, end=TODAY
        )
    order = ["introduction", "growth", "maturity", "dormancy", "churn"]
    named = [v for v in result.values if v is not None]
    assert named == [v for v in order if v in named]
    assert result.label("churn") == "流失期" and result.label("churn", english=True) == "Churn"
    assert result.label(None) == "(无)"
    assert result.sankey(english=True)["nodes"][0]["name"].endswith(f" · {DAY1.isoformat()}")


def test_days_between_snapshots_use_the_one_before(two_days: Refreshable) -> None:
    with two_days.warehouse() as wh:
        result = history.migration(
            two_days.engine,
            wh,
            tag="lifecycle_stage",
            start=DAY1 + timedelta(days=3),
            end=TODAY + timedelta(days=30),
        )
        assert (result.start, result.end) == (DAY1, TODAY)
        with pytest.raises(InputError, match="no snapshot on or before 2026-01-01"):
            history.migration(
                two_days.engine, wh, tag="lifecycle_stage", start=date(2026, 1, 1), end=TODAY
            )
        with pytest.raises(InputError, match=f"^to {DAY1} is before from {TODAY}$"):
            history.migration(two_days.engine, wh, tag="lifecycle_stage", start=TODAY, end=DAY1)
        with pytest.raises(InputError, match=r"^to 9999-12-31 is out of range"):
            history.migration(
                two_days.engine, wh, tag="lifecycle_stage", start=DAY1, end=date(9999, 12, 31)
            )
        with pytest.raises(InputError, match="no tag 'nope'"):
            history.migration(two_days.engine, wh, tag="nope", start=DAY1, end=TODAY)

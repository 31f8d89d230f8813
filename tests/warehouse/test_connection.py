"""How USEROPS_WAREHOUSE_URL is read."""

from __future__ import annotations

import pytest

from userops.errors import ConfigError
from userops.settings import Settings
from userops.warehouse.connection import clickhouse_url, open_warehouse


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("clickhouse://u:p@ch:8123/db", "clickhouse://u:p@ch:8123/db"),
        ("clickhouses://u:p@ch/db", "clickhouse://u:p@ch/db?secure=True"),
        (
            "clickhouses://u:p@ch:8443/db?compress=False",
            "clickhouse://u:p@ch:8443/db?compress=False&secure=True",
        ),
    ],
)
def test_tls_clickhouse_urls_become_what_ibis_takes(given: str, expected: str) -> None:
    assert clickhouse_url(given) == expected


def test_an_unknown_scheme_is_refused_by_name() -> None:
    settings = Settings(warehouse_url="bigquery://project/dataset")
    with pytest.raises(ConfigError, match="scheme 'bigquery' is not supported"):
        open_warehouse(settings)

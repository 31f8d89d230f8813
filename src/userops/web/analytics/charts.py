"""Chart specs: what console.js turns into ECharts options, as JSON embedded in the page.

A spec names its kind and holds only data and already translated labels; the options (axes,
tooltips, formatters) are built in console.js, because functions cannot travel in JSON and the
page's CSP runs no inline script. Kinds:

- `line`, `bar`: `x` categories, `series` [{name, data, type?, stack?, axis?}], `format` of the
  values (int, pct, money, dec) and `format2` of a second axis (series with axis 1);
- `hbar`: horizontal bars, `x` the categories top to bottom, `highlight` the index drawn in the
  accent colour (the best);
- `steps`: a funnel's bars per step, `series[].labels` the text above each bar;
- `lifecycle`: stacked bars with the dormant series below the axis (`abs`: tooltips show
  magnitudes).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

Kind = Literal["line", "bar", "hbar", "steps", "lifecycle"]
Format = Literal["int", "pct", "money", "dec"]
Number = int | float | Decimal | None


def values(data: Sequence[Number]) -> list[int | float | None]:
    """Numbers JSON can carry (money as a float: charts draw, tables show the exact value)."""
    return [float(v) if isinstance(v, Decimal) else v for v in data]


def series(name: str, data: Sequence[Number], **extra: Any) -> dict[str, Any]:
    return {"name": name, "data": values(data), **extra}


def chart(
    kind: Kind,
    x: Sequence[str],
    lines: Sequence[dict[str, Any]],
    *,
    fmt: Format = "int",
    **extra: Any,
) -> dict[str, Any]:
    return {"kind": kind, "x": list(x), "series": list(lines), "format": fmt, **extra}


def drawn(spec: dict[str, Any]) -> bool:
    """Whether the spec has any value to draw (an empty chart is not shown)."""
    return any(v for s in spec["series"] for v in s["data"])

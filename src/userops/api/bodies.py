"""The base of every JSON request body of the JSON API (/api; not the Segment-compatible /v1
ingestion, which stays as lenient as Segment's).

A body is refused with a 400 naming what is wrong (`userops.api.deps.invalid_request` words
it) instead of being half understood:

- a field the route does not know (`{"date": ...}` where the field is `on`, `caps_points` for
  `points_caps`) is refused, with the fields it does know, rather than silently ignored and the
  default used;
- a date or time outside 1970-01-01..2200-12-31 (`userops.domain.bounds`) is refused, as
  ingestion refuses such event times: the calendar arithmetic behind every date overflows past
  year 9999 and nothing real happened or will happen out there.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from userops.domain.bounds import DAY_RANGE, day_in_range


class RequestBody(BaseModel):
    """A JSON request body (or a part of one): unknown fields and out-of-range dates are
    refused. Every request model of the JSON API derives from it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fields = cls.model_fields
            known = set(fields) | {f.alias for f in fields.values() if f.alias}
            unknown = [key for key in data if key not in known]
            if unknown:
                names = [f.alias or name for name, f in fields.items()]
                raise PydanticCustomError(
                    "extra_forbidden",
                    "unknown field{s} {unknown}; the fields are {known}",
                    {
                        "s": "s" if len(unknown) > 1 else "",
                        "unknown": ", ".join(repr(key) for key in unknown),
                        "known": ", ".join(names),
                    },
                )
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _days_in_range(cls, value: Any) -> Any:
        if isinstance(value, date) and not day_in_range(value):
            raise PydanticCustomError(
                "date_out_of_range",
                "{value} is out of range ({range})",
                {"value": value.isoformat(), "range": DAY_RANGE},
            )
        return value

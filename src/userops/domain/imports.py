"""What an import reports back: counts a user can check and a place to find the bad rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from userops.errors import InputError


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """`accepted + rejected + duplicates` equals the number of data rows read."""

    kind: str
    accepted: int
    rejected: int
    duplicates: int
    quarantine: str | None
    sources: tuple[str, ...] = field(default=())
    batch_id: str = ""

    @property
    def rows(self) -> int:
        return self.accepted + self.rejected + self.duplicates

    def as_json(self) -> dict[str, Any]:
        """The `--json` shape promised by the CLI: four keys, always present."""
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "quarantine": self.quarantine,
        }

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        return data


@dataclass(frozen=True, slots=True)
class RejectedRow:
    source: str
    row: int
    reason: str


def parse_mapping(pairs: list[str], allowed: set[str]) -> dict[str, str]:
    """Read `--map field=column` options into {field: column}, naming any bad pair."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        target, sep, source = pair.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise InputError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. timestamp=event_time")
        if target not in allowed:
            raise InputError(
                f"--map {pair!r}: {target!r} is not a field; "
                f"fields are {', '.join(sorted(allowed))}"
            )
        if target in mapping:
            raise InputError(f"--map {pair!r}: field {target!r} is mapped twice")
        mapping[target] = source
    return mapping

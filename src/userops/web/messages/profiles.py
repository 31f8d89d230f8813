"""Messages of the profiles, tags, segments and user 360 pages."""

from __future__ import annotations

from typing import Final

EN: Final[dict[str, str]] = {}

ZH_CN: Final[dict[str, str]] = {}

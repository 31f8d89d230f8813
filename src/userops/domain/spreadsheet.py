"""CSV for spreadsheets: the console's downloads are opened in Excel or WPS by operators.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula, so a
user id like `=HYPERLINK(...)` would run (OWASP, "CSV injection"): such a cell gets a leading
`'`, which the spreadsheet shows as text. And without a byte order mark Excel reads UTF-8 as
the local code page, garbling Chinese. Exports meant for programs (the API, the command line)
keep their values exact and carry no mark.
"""

from __future__ import annotations

from typing import Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
BOM: Final = "\ufeff"


def cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value

"""What every command shares: the consoles, the debug flag, progress, JSON output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console()
console_err = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


state = _State()


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextmanager
def stage_progress(title: str, *, enabled: bool = True) -> Iterator[Any]:
    """A spinner naming the current stage; silent when output is not a terminal or JSON."""
    if not enabled:
        yield lambda _label: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)

        def step(label: str) -> None:
            progress.update(task, description=f"{title}: {label}")

        yield step

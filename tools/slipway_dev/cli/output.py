"""What the read-only commands print: JSON for scripts, a table (rich) for a terminal, and times as they show them."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any

from pydantic import BaseModel

from slipway.domain.dora import parse_time


def plain(value: Any) -> Any:
    """Records (dataclasses, pydantic models, enums) as plain JSON values: what ``--json`` prints."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def print_json(data: Any) -> None:
    print(json.dumps(plain(data), indent=2, sort_keys=True, default=str))


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a CLI extra ([local]); plain columns without it
        print(title)
        for row in [columns, *rows]:
            print("\t".join(row))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def short_time(value: Any) -> str:
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"

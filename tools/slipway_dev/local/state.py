"""Where a local cloud's ``local.json`` is, and reading it: the one lookup every CLI command uses.

The state folder is ``--state-dir`` when a command has one, else ``$SLIPWAY_LOCAL_DIR``, else ``.slipway`` (relative
to the current directory). ``slipway local up --state-dir DIR`` writes ``DIR/local.json``; ``local invoke``,
``local approve``, ``history``, ``status``, ``dora`` and ``rollback`` all find it through this module.

This module is light on purpose (no boto3, no moto): the read-only commands import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATE_FILE = "local.json"
DEFAULT_STATE_DIR = ".slipway"
STATE_DIR_ENV = "SLIPWAY_LOCAL_DIR"


class LocalStateError(Exception):
    """``local.json`` exists but cannot be used (not JSON, not an object); the message names the file."""


def state_dir_default(environ: Mapping[str, str] | None = None) -> Path:
    """``$SLIPWAY_LOCAL_DIR``, else ``.slipway``."""
    env = os.environ if environ is None else environ
    return Path(env.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def local_state_path(
    state_dir: Path | None = None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path:
    folder = Path(state_dir) if state_dir is not None else state_dir_default(environ)
    if cwd is not None and not folder.is_absolute():
        folder = cwd / folder
    return folder / STATE_FILE


def read_local_state(
    state_dir: Path | None = None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Path, dict[str, Any] | None]:
    """(path of local.json, its content or None when there is no such file).

    The content gets the flat aliases the read-only commands look for: ``audit_table`` (from
    ``tables.AuditTable``) and ``endpoint_url`` (from ``aws_endpoint``), unless the file has them itself.
    """
    path = local_state_path(state_dir, environ, cwd)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return path, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LocalStateError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LocalStateError(f"{path}: expected a JSON object")
    tables = data.get("tables")
    if not data.get("audit_table") and isinstance(tables, dict) and tables.get("AuditTable"):
        data["audit_table"] = tables["AuditTable"]
    if not data.get("endpoint_url") and data.get("aws_endpoint"):
        data["endpoint_url"] = data["aws_endpoint"]
    return path, data

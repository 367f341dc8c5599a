"""Writing the compiled config (``slipway.models.compiled``): the config folder validated as a whole, then every
pipeline and ``people.yaml`` as JSON in one file, which `slipway publish-config` and the local cloud put beside
the folder's files so a function's cold start reads one object (docs/intake.md, "How a function reads the config").
"""

from __future__ import annotations

import json
from pathlib import Path

from slipway.domain.config import LocalConfigSource, load_config_files
from slipway.models.compiled import COMPILED_FILE, FORMAT_VERSION, compiled_document, sources_sha256


def compiled_key(prefix: str) -> str:
    """Where the compiled file of a config published under ``prefix`` lives."""
    return "/".join(part for part in (prefix.strip("/"), COMPILED_FILE) if part)


def folder_sources_sha256(root: Path) -> str:
    """The hash a compiled file of this folder records (``sources_sha256``)."""
    return sources_sha256(
        (path.relative_to(root).as_posix(), path.read_bytes())
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).as_posix() != COMPILED_FILE
    )


def is_compiled_from(body: bytes, root: Path) -> bool:
    """Whether ``body`` is a compiled file, of this format, of the folder as it is now."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(document, dict)
        and document.get("format") == FORMAT_VERSION
        and document.get("sources_sha256") == folder_sources_sha256(root)
    )


def compiled_config(root: Path) -> bytes:
    """The compiled file of the config folder ``root``; a ``ConfigError`` (every problem) when it is not valid."""
    config, files = load_config_files(LocalConfigSource(root))
    sources = folder_sources_sha256(root)
    document = compiled_document(
        (
            (files[name], pipeline.model_dump(mode="json", exclude_unset=True))
            for name, pipeline in config.pipelines.items()
        ),
        config.people.model_dump(mode="json", exclude_unset=True),
        sources,
    )
    return json.dumps(document, separators=(",", ":")).encode()

"""The compiled config: one JSON file beside the config folder (``compiled/config.json``) holding every validated
pipeline and ``people.yaml``, so a function's cold start reads one object and parses JSON instead of listing,
reading and parsing every YAML file (bench/README.md, ``config_load_ms``). ``slipway publish-config`` and the local
cloud write it (``slipway_dev.compiled``); ``slipway.domain.config.load_published_config`` reads it. This module is
the format both share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

# The validated model (``slipway.models.config.Pipeline``, which imports this module: named here by a type variable)
PipelineT = TypeVar("PipelineT")

COMPILED_FILE = "compiled/config.json"
# Raised whenever the document's shape changes: a function reading another version falls back to the YAML files.
FORMAT_VERSION = 1


def sources_sha256(files: Iterable[tuple[str, bytes]]) -> str:
    """One hash of the config folder's files (relative path and content): what the compiled file was built from."""
    digest = hashlib.sha256()
    for relative, content in sorted(files):
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def compiled_document(
    pipelines: Iterable[tuple[str, dict[str, Any]]], people: dict[str, Any], sources: str
) -> dict[str, Any]:
    """``pipelines``: (the file it came from, relative to the config folder; the pipeline as JSON), in config order."""
    return {
        "format": FORMAT_VERSION,
        "sources_sha256": sources,
        "pipelines": [{"file": file, "pipeline": data} for file, data in pipelines],
        "people": people,
    }


class LazyPipelines(Mapping[str, PipelineT]):
    """Pipelines by name from a compiled document, each validated at its first look-up and kept: a push validates
    its own pipeline, not the organisation's hundreds. The index by repository is built from the raw JSON."""

    def __init__(self, entries: list[dict[str, Any]], validate: Callable[[str, dict[str, Any]], PipelineT]) -> None:
        """``validate(file, data)``: the pipeline, or a ``ConfigError`` naming the file and the problem."""
        self._raw: dict[str, tuple[str, dict[str, Any]]] = {}
        self._by_repository: dict[str, list[str]] = {}
        for entry in entries:
            data = entry["pipeline"]
            self._raw[data["name"]] = (entry["file"], data)
            self._by_repository.setdefault(data["repository"], []).append(data["name"])
        self._validate = validate
        self._validated: dict[str, PipelineT] = {}

    def __getitem__(self, name: str) -> PipelineT:
        pipeline = self._validated.get(name)
        if pipeline is None:
            file, data = self._raw[name]
            pipeline = self._validated[name] = self._validate(file, data)
        return pipeline

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def for_repository(self, repository: str) -> list[PipelineT]:
        return [self[name] for name in self._by_repository.get(repository, ())]

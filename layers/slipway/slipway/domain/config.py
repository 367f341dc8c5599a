"""Loading the pipeline configuration from a folder or an S3 prefix, with errors a person can act on: from the
YAML files (``load_config``), or in a function from the compiled file publish-config writes beside them
(``load_published_config``, falling back to the YAML files)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from slipway.errors import ConfigError
from slipway.models.compiled import COMPILED_FILE, FORMAT_VERSION, LazyPipelines
from slipway.models.config import People, Pipeline, SlipwayConfig, known_keys
from slipway.models.deployment import DEPLOYMENT_TYPES
from slipway.observability import logger

PIPELINES_DIR = "pipelines"
PEOPLE_FILE = "people.yaml"


class ConfigSource(Protocol):
    """Where config files live: a local folder or an S3 prefix (``slipway.adapters.s3.S3ConfigSource``)."""

    def describe(self, relative: str) -> str:
        """A name for a file, as a person should see it in an error (``config/pipelines/web.yaml``)."""
        ...

    def read_text(self, relative: str) -> str: ...

    def list_files(self, relative_dir: str) -> list[str]:
        """Paths (relative to the root) of the files directly in ``relative_dir``."""
        ...


class LocalConfigSource:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def describe(self, relative: str) -> str:
        return str(self.root / relative)

    def read_text(self, relative: str) -> str:
        path = self.root / relative
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None

    def list_files(self, relative_dir: str) -> list[str]:
        folder = self.root / relative_dir
        if not folder.is_dir():
            return []
        return sorted(f"{relative_dir}/{p.name}" if relative_dir else p.name for p in folder.iterdir() if p.is_file())


def format_validation_error(where: str, error: ValidationError) -> str:
    """One line per problem: ``file: environments[1].approval: message``; an unknown key gets a did-you-mean."""
    lines = []
    for item in error.errors():
        path, previous = "", None
        for part in item["loc"]:
            if previous == "deployment" and part in DEPLOYMENT_TYPES:
                continue  # pydantic puts the union's tag (deployment.type) in the path; the file has no such key
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
            previous = part
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = _unknown_key(item["loc"])
        lines.append(f"{where}: {path or '(top level)'}: {message}")
    return "\n".join(lines)


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    key, known = str(loc[-1]), known_keys(loc[:-1]) or []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; the keys here are: {', '.join(known)}"


def _yaml_problem(where: str, exc: Exception) -> str:
    """A YAML error on one line, naming the file (PyYAML's own text names ``<unicode string>`` over several)."""
    mark = getattr(exc, "problem_mark", None)
    at = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else str(problem)
    return f"{where}: {at}not valid YAML: {' '.join(detail.split())}"


def _yaml_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml when PyYAML has it (its wheels do): about three times faster, which
    counts when a function loads hundreds of pipeline files (bench/README.md, ``config_load_ms``). A document
    libyaml refuses is parsed again in Python, whose error points at the place a person would fix."""
    import yaml  # only where a config is read: handlers that never read one stay lighter

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # noqa: S506 - libyaml's safe loader
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def parse_pipeline(where: str, text: str) -> Pipeline:
    import yaml

    try:
        data = _yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(where, exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with name, repository and environments")
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(where, exc)) from None


def parse_people(where: str, text: str) -> People:
    import yaml

    try:
        data = _yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if data is None:
        return People()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with people (and automation)")
    try:
        return People.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(where, exc)) from None


def load_config(source: ConfigSource) -> SlipwayConfig:
    """Every ``pipelines/*.yaml`` file and the optional ``people.yaml``; all problems in all files are reported
    together."""
    return load_config_files(source)[0]


def load_config_files(source: ConfigSource) -> tuple[SlipwayConfig, dict[str, str]]:
    """``load_config``, and the file (relative to the root) each pipeline came from, by name."""
    problems: list[str] = []
    pipelines: dict[str, Pipeline] = {}
    files_by_name: dict[str, str] = {}
    files = [f for f in source.list_files(PIPELINES_DIR) if f.endswith((".yaml", ".yml"))]
    if not files:
        raise ConfigError(f"{source.describe(PIPELINES_DIR)}: no pipeline files (*.yaml) found")
    for relative in files:
        where = source.describe(relative)
        try:
            pipeline = parse_pipeline(where, source.read_text(relative))
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if pipeline.name in pipelines:
            problems.append(f"{where}: name: pipeline {pipeline.name!r} is defined twice")
            continue
        pipelines[pipeline.name] = pipeline
        files_by_name[pipeline.name] = relative
    people = People()
    if PEOPLE_FILE in source.list_files(""):
        try:
            people = parse_people(source.describe(PEOPLE_FILE), source.read_text(PEOPLE_FILE))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return SlipwayConfig(pipelines=pipelines, people=people), files_by_name


# Locations already told they have no usable compiled file: a warm function reloads every minute, and says it once.
_WARNED: set[str] = set()


def load_published_config(source: ConfigSource) -> SlipwayConfig:
    """What a function reads: the compiled file (one read, JSON, each pipeline validated at its first look-up)
    when it is there in this format; else the YAML files (an older publish, a hand-copied folder), said once."""
    where = source.describe(COMPILED_FILE)
    try:
        return _load_compiled(source, where)
    except ConfigError as exc:
        reason = str(exc)
    if where not in _WARNED:
        _WARNED.add(where)
        logger.warning(
            "no usable compiled config: reading every YAML file (run `slipway publish-config` to write it)",
            extra={"compiled_config": where, "reason": reason},
        )
    return load_config(source)


def _load_compiled(source: ConfigSource, where: str) -> SlipwayConfig:
    """The config of the compiled file, or a ConfigError saying why it cannot be used."""
    try:
        document = json.loads(source.read_text(COMPILED_FILE))
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
        found = document.get("format") if isinstance(document, dict) else None
        raise ConfigError(f"{where}: format {found!r}, this code reads format {FORMAT_VERSION}")

    def validate(file: str, data: dict[str, object]) -> Pipeline:
        """The same error a YAML file gives, naming the file it was compiled from."""
        try:
            return Pipeline.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(f"{where} ({file})", exc)) from None

    try:
        pipelines = LazyPipelines(document["pipelines"], validate)
        people = People.model_validate(document["people"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise ConfigError(f"{where}: not a compiled config: {exc!r}") from None
    return SlipwayConfig.model_construct(pipelines=pipelines, people=people)

"""``${name}`` variables: the built-ins, config variables, and substitution into JSON or YAML template text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from slipway.models.config import Environment, Pipeline
from slipway.models.release import Release

BUILTINS = ("image_uri", "image_digest", "pipeline", "environment", "release_id", "commit")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A JSON string literal, or a ${name} outside any string (a bare number such as "containerPort": ${app_port}).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\$\{([A-Za-z_][A-Za-z0-9_]*)\}')


def builtin_variables(pipeline: Pipeline, environment: Environment, release: Release) -> dict[str, str]:
    return {
        "image_uri": release.image_uri,
        "image_digest": release.digest,
        "pipeline": pipeline.name,
        "environment": environment.name,
        "release_id": release.release_id,
        "commit": release.commit or "",
    }


def template_variables(
    pipeline: Pipeline, environment: Environment, release: Release, where: str
) -> tuple[dict[str, str], list[str]]:
    """Config variables (which may reference built-ins, e.g. ``app_image: "${image_uri}"``) plus the built-ins."""
    builtins = builtin_variables(pipeline, environment, release)
    variables = dict(builtins)
    problems = []
    for name, value in environment.variables.items():
        path = f"{where}.variables.{name}"
        if name in builtins:
            problems.append(f"{path}: {name!r} is a built-in variable; rename yours")
            continue
        text = str(value)
        unknown = sorted({m for m in PLACEHOLDER.findall(text) if m not in builtins})
        if unknown:
            refs = ", ".join("${" + u + "}" for u in unknown)
            problems.append(
                f"{path}: {refs} is not a built-in; a variable's value may reference only {', '.join(BUILTINS)}"
            )
        variables[name] = PLACEHOLDER.sub(lambda m: builtins.get(m.group(1), m.group(0)), text)
    return variables, problems


def substitute_json(text: str, variables: dict[str, str]) -> str:
    """``${name}`` inside a JSON string is replaced JSON-escaped; outside a string, as is (a number).

    A missing variable is left as ``"${name}"`` (quoted when bare) so the text still parses and
    ``missing_variables`` can name every JSON path that uses it.
    """

    def in_string(match: re.Match[str]) -> str:
        name = match.group(1)
        return json.dumps(variables[name])[1:-1] if name in variables else match.group(0)

    def token(match: re.Match[str]) -> str:
        bare = match.group(1)
        if bare is None:
            return PLACEHOLDER.sub(in_string, match.group(0))
        return variables.get(bare, f'"${{{bare}}}"')

    return _JSON_TOKEN.sub(token, text)


def substitute_text(text: str, variables: dict[str, str]) -> str:
    """YAML templates (the AppSpec): plain replacement; missing names are left for ``missing_variables``."""
    return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, string) for every string in a parsed document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, join_path(path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def missing_variables(document: Any, where: str, config_where: str) -> list[str]:
    """One message per missing variable, listing every JSON path that uses it."""
    uses: dict[str, list[str]] = {}
    for path, text in walk_strings(document):
        for name in PLACEHOLDER.findall(text):
            uses.setdefault(name, []).append(path or "(top level)")
    return [
        f"{where}: {', '.join(paths)}: variable ${{{name}}} is not defined; add {name} under "
        f"{config_where}.variables (built-ins: {', '.join(BUILTINS)})"
        for name, paths in sorted(uses.items())
    ]


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key

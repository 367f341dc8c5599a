"""Field patterns stay cheap to compile: pydantic-core builds them with Rust's regex, which reads ``\\w``, ``\\d``,
``\\s`` (and their negations) as Unicode classes; one ``[\\w…]{1,64}`` cost 45 ms of every cold start (bench/run.py,
cold_import_ratio). AWS and Slack identifiers are ASCII, so the classes are spelt out."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from typing import Any

import pytest
from pydantic import BaseModel

import slipway.models

UNICODE_CLASS = re.compile(r"(?<!\\)\\[wWdDsSb]")


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(slipway.models.__path__, "slipway.models."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseModel) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return [found[key] for key in sorted(found)]


def _patterns(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        return own + [p for value in schema.values() for p in _patterns(value)]
    if isinstance(schema, list):
        return [p for value in schema for p in _patterns(value)]
    return []


def test_the_models_have_patterns_to_check() -> None:
    patterns = [p for model in _models() for p in _patterns(model.model_json_schema())]
    assert len(patterns) >= 8, patterns


@pytest.mark.parametrize("model", _models(), ids=lambda m: f"{m.__module__}.{m.__qualname__}")
def test_no_pattern_uses_a_unicode_class(model: type[BaseModel]) -> None:
    offending = [p for p in _patterns(model.model_json_schema()) if UNICODE_CLASS.search(p)]
    assert offending == [], f"{model.__qualname__}: spell the class out in ASCII ({json.dumps(offending)})"

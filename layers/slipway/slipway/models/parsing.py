"""Validating what arrives (events, task payloads) with pydantic, failing as ``MalformedEvent`` naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from slipway.errors import MalformedEvent

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    """``detail.image-digest: field required`` - the path as it appears in the event, using AWS's key names."""
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(event)"
        if item["type"] == "missing":
            problems.append(f"missing field {path}")
        else:
            problems.append(f"{path}: {item['msg']}")
    return "; ".join(problems)


def parse_event(model: type[M], event: Any, what: str) -> M:
    """Validate ``event`` against ``model``; anything malformed raises ``MalformedEvent`` naming the field."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"{what}: expected a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise MalformedEvent(f"{what}: {describe_validation_error(exc)}") from None


def parse_one_of(models: tuple[type[BaseModel], ...], event: Any, what: str) -> BaseModel:
    """The first of ``models`` that ``event`` validates against; ``MalformedEvent`` saying ``what`` was expected.

    A model whose discriminating key is present (its first required field) reports its own problems.
    """
    if not isinstance(event, dict):
        raise MalformedEvent(f"{what}, got {type(event).__name__}")
    for model in models:
        try:
            return model.model_validate(event)
        except ValidationError as exc:
            first = next(iter(model.model_fields.values()))
            key = first.alias or next(iter(model.model_fields))
            if key in event:
                raise MalformedEvent(f"{what}: {describe_validation_error(exc)}") from None
    raise MalformedEvent(f"{what}; got keys {sorted(event)[:10]}")


def parse_sns_messages(model: type[M], event: Any, what: str) -> list[M]:
    """The JSON ``Message`` of every record of an SNS event (Powertools' ``SnsEnvelope``), each a ``model``."""
    from aws_lambda_powertools.utilities.parser.envelopes import SnsEnvelope

    if not isinstance(event, dict):
        raise MalformedEvent(f"{what}: expected an SNS event object, got {type(event).__name__}")
    try:
        parsed = SnsEnvelope().parse(data=event, model=model)
    except ValidationError as exc:
        raise MalformedEvent(f"{what}: {describe_validation_error(exc)}") from None
    except ValueError as exc:  # a Message that is not JSON
        raise MalformedEvent(f"{what}: {exc}") from None
    messages = [m for m in parsed if m is not None]
    if not messages:
        raise MalformedEvent(f"{what}: the SNS event has no records")
    return messages

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


def parse_by_detail_type(
    events: dict[str, type[BaseModel]], otherwise: type[BaseModel], event: Any, what: str
) -> BaseModel:
    """An EventBridge event by its ``detail-type`` (``events``), else the state machine's task input
    (``otherwise``): the EventBridge envelopes share their first keys, so the detail type decides the model and
    that model names what is wrong. A detail type no model takes is ``MalformedEvent`` too."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"{what}: expected a JSON object, got {type(event).__name__}")
    if "detail-type" not in event:
        return parse_event(otherwise, event, what)
    detail_type = event["detail-type"]
    model = events.get(detail_type) if isinstance(detail_type, str) else None
    if model is None:
        expected = ", ".join(repr(name) for name in events)
        raise MalformedEvent(f"{what}: detail-type {detail_type!r} is not one of {expected}")
    return parse_event(model, event, f"{what} ({detail_type})")


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

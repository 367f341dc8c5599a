"""DynamoDB plumbing shared by the storage adapters: item codec, conditional-write failures, the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON-able dict -> DynamoDB item; None values are left out (floats go through JSON: no Decimal leaks)."""
    clean = json.loads(json.dumps(data, default=str), parse_float=str)
    return {k: _serializer.serialize(v) for k, v in clean.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    """One attribute value (for ExpressionAttributeValues)."""
    serialized: dict[str, Any] = to_item({"v": value})["v"]
    return serialized


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def is_conflict(exc: ClientError) -> bool:
    """A conditional write (or a transaction with one) found the item changed."""
    return exc.response.get("Error", {}).get("Code") in CONFLICT_CODES


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The stored attributes a record dataclass declares (keys such as pk/sk/gsi1pk are storage, not record)."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in data.items() if k in names}

"""IAM policy evaluation, as far as slipway's roles need it: Allow and Deny statements, ``Action``/``NotAction``,
``Resource``/``NotResource`` with ``*`` and ``?`` wildcards, and the string and ARN condition operators on the
context keys a call provides (``iam:PassedToService`` for ``iam:PassRole``). A condition on a key the call does
not provide is false, as in IAM; an operator this module does not know makes the statement match nothing, and is
reported, rather than being waved through."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

STRING_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringEqualsIgnoreCase"}


class UnsupportedCondition(ValueError):
    """A statement uses a condition operator the check cannot evaluate."""


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    text = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{text}$", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    return _pattern(pattern, ignore_case).match(value) is not None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass(frozen=True)
class Statement:
    """One resolved policy statement of a role (``source`` names the policy and Sid, for reports)."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    condition: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def parse(cls, raw: dict[str, Any], source: str) -> Statement:
        return cls(
            effect=str(raw.get("Effect", "Allow")),
            actions=tuple(_strings(raw.get("Action"))),
            not_actions=tuple(_strings(raw.get("NotAction"))),
            resources=tuple(_strings(raw.get("Resource"))),
            not_resources=tuple(_strings(raw.get("NotResource"))),
            condition={str(k): dict(v) for k, v in (raw.get("Condition") or {}).items()},
            source=source,
        )

    def covers_action(self, action: str) -> bool:
        if self.actions:
            return any(matches(a, action, ignore_case=True) for a in self.actions)
        return not any(matches(a, action, ignore_case=True) for a in self.not_actions)

    def covers_resource(self, resource: str) -> bool:
        if self.resources:
            return any(matches(r, resource) for r in self.resources)
        return not any(matches(r, resource) for r in self.not_resources)

    def conditions_hold(self, context: dict[str, str]) -> bool:
        for operator, keys in self.condition.items():
            if operator not in STRING_OPERATORS:
                raise UnsupportedCondition(f"{self.source}: condition operator {operator} is not evaluated")
            ignore_case = operator == "StringEqualsIgnoreCase"
            wildcard = operator in ("StringLike", "ArnLike", "ArnEquals")
            for key, expected in keys.items():
                actual = context.get(key)
                if actual is None:
                    return False
                wanted = _strings(expected)
                if wildcard:
                    if not any(matches(w, actual, ignore_case=ignore_case) for w in wanted):
                        return False
                elif not any((w.lower() == actual.lower()) if ignore_case else w == actual for w in wanted):
                    return False
        return True

    def applies(self, action: str, resource: str, context: dict[str, str]) -> bool:
        return self.covers_action(action) and self.covers_resource(resource) and self.conditions_hold(context)


def allowed(statements: list[Statement], action: str, resource: str, context: dict[str, str]) -> Statement | None:
    """The statement that allows the request, or None (an explicit Deny wins over every Allow)."""
    allowing = None
    for statement in statements:
        if not statement.applies(action, resource, context):
            continue
        if statement.effect == "Deny":
            return None
        allowing = allowing or statement
    return allowing

"""Resolving the CloudFormation intrinsics slipway's template uses, the way CloudFormation would for a stack.

Only what ``template.yaml`` (and SAM's translation of it) needs: ``Ref`` (parameters, pseudo parameters,
resources), ``Fn::GetAtt``, ``Fn::Sub`` (string or [string, variables]), ``Fn::Select``, ``Fn::Split``,
``Fn::Join``, and ``Fn::If`` over the template's ``Conditions`` (``Fn::Equals``, ``Fn::Not``, ``Fn::And``,
``Fn::Or``; ``AWS::NoValue`` drops the value). Anything else is an error naming the intrinsic, so a template change
that the tools cannot follow fails loudly instead of deploying (or judging) garbage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SUB_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")
NO_VALUE: Any = object()  # ``!Ref AWS::NoValue``: the key or item it stands for is left out


class UnresolvableError(ValueError):
    """A template value the local cloud cannot resolve."""


@dataclass
class Resolver:
    """``refs``: logical id or parameter -> value of ``Ref``; ``attrs``: (logical id, attribute) -> value."""

    region: str
    account: str
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)

    def pseudo(self) -> Mapping[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "slipway-local",
        }

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name not in self.refs:
            raise UnresolvableError(f"!Ref {name}: no such parameter or resource in the local cloud")
        return self.refs[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attrs[(logical_id, attribute)]
        except KeyError:
            raise UnresolvableError(f"!GetAtt {logical_id}.{attribute}: not known to the local cloud") from None

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise UnresolvableError(f"condition {name}: not in the template's Conditions")
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and arg == "AWS::NoValue":
                return NO_VALUE
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(str(v) for v in self.resolve(items))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key.startswith("Fn::"):
                raise UnresolvableError(f"{key}: intrinsic not supported by the local cloud")
        mapping = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in mapping.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            value = self.ref(name)
            if isinstance(value, list):
                return ",".join(str(v) for v in value)
            return str(value)

        return SUB_PLACEHOLDER.sub(replace, str(text))

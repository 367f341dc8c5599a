"""Resolving the CloudFormation intrinsics slipway's template uses, the way CloudFormation would for a stack.

Only what ``template.yaml`` needs: ``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt``, ``Fn::Sub``
(string or [string, variables]), ``Fn::Select`` and ``Fn::Split``. Anything else is an error naming the
intrinsic, so a template change that the local cloud cannot follow fails loudly instead of deploying garbage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SUB_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableError(ValueError):
    """A template value the local cloud cannot resolve."""


@dataclass
class Resolver:
    """``refs``: logical id or parameter -> value of ``Ref``; ``attrs``: (logical id, attribute) -> value."""

    region: str
    account: str
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)

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

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
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
            if key.startswith("Fn::") or key == "Condition":
                raise UnresolvableError(f"{key}: intrinsic not supported by the local cloud")
        return {k: self.resolve(v) for k, v in value.items()}

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

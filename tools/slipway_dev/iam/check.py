"""Judging the recorded calls against the roles: every call must be allowed by its function's role (action AND
resource, conditions included), and every grant of a role should be used by some call, or justified in
``tests/iam/justified-grants.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slipway_dev.iam.actions import UnknownOperation, Where, requests_for
from slipway_dev.iam.policy import Statement, UnsupportedCondition, allowed, matches
from slipway_dev.iam.recorder import Call, Stack
from slipway_dev.iam.roles import Role, function_roles
from slipway_dev.template import PROJECT_ROOT

JUSTIFIED = PROJECT_ROOT / "tests" / "iam" / "justified-grants.yaml"


@dataclass(frozen=True)
class Denial:
    function: str
    action: str
    resource: str
    call: str
    why: str

    def __str__(self) -> str:
        return f"{self.function}: {self.action} on {self.resource} is not allowed by its role ({self.call}; {self.why})"


@dataclass(frozen=True)
class Grant:
    """One action pattern of one statement of a function's role."""

    function: str
    statement: str
    action: str
    resources: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.function}: {self.action} on {', '.join(self.resources)} ({self.statement})"


@dataclass
class Verdict:
    denials: list[Denial] = field(default_factory=list)
    unused: list[Grant] = field(default_factory=list)
    calls: int = 0
    functions: set[str] = field(default_factory=set)


def _grants(role: Role) -> list[tuple[Statement, str]]:
    return [(s, action) for s in role.statements if s.effect == "Allow" for action in s.actions]


def judge(calls: list[Call], stacks: dict[str, Stack], template: Path | None = None) -> Verdict:
    verdict = Verdict(calls=len(calls))
    used: set[tuple[str, str, str]] = set()
    roles_by_stack: dict[str, dict[str, Role]] = {}
    all_grants: dict[tuple[str, str, str], Grant] = {}
    for stack_key, stack in stacks.items():
        roles = function_roles(stack.resolver) if template is None else function_roles(stack.resolver, template)
        roles_by_stack[stack_key] = roles
        for role in [*roles.values(), *stack.target_roles.values()]:
            for statement, action in _grants(role):
                identity = (role.function, statement.source, action)
                all_grants.setdefault(identity, Grant(role.function, statement.source, action, statement.resources))
    seen_denials: set[tuple[str, str, str]] = set()
    for call in calls:
        stack = stacks[call.stack]
        function_role = roles_by_stack[call.stack].get(call.function)
        account = stack.resolver.account
        if call.role:  # signed with an environment's deploy role: that role (target-account.yaml) is judged
            function_role = stack.target_roles.get(call.role)
            account = call.role.split(":")[4]
        actor = function_role.function if function_role is not None else (call.role or call.function)
        verdict.functions.add(actor)
        where = Where(
            region=call.region or stack.resolver.region,
            account=account,
            state_machine_arn=stack.state_machine_arn,
        )
        label = f"{call.service}.{call.operation}"
        try:
            requests = requests_for(call.service, call.operation, call.params, where)
        except UnknownOperation as exc:
            verdict.denials.append(Denial(call.function, label, "?", label, str(exc.args[0])))
            continue
        for request in requests:
            statements = list(function_role.statements) if function_role else []
            try:
                allowing = allowed(statements, request.action, request.resource, request.context)
            except UnsupportedCondition as exc:
                allowing, why = None, str(exc)
            else:
                why = "no statement matches both the action and the resource"
            if allowing is None:
                denied = (actor, request.action, request.resource)
                if denied not in seen_denials:
                    seen_denials.add(denied)
                    verdict.denials.append(Denial(actor, request.action, request.resource, label, why))
                continue
            for action in allowing.actions:
                if matches(action, request.action, ignore_case=True):
                    used.add((actor, allowing.source, action))
    verdict.unused = [grant for identity, grant in sorted(all_grants.items()) if identity not in used]
    return verdict


@dataclass(frozen=True)
class Justification:
    function: str
    action: str
    why: str


def justifications(path: Path = JUSTIFIED) -> list[Justification]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else []
    return [Justification(str(j["function"]), str(j["action"]), str(j["why"]).strip()) for j in data or []]


def unjustified(unused: list[Grant], allowed_unused: list[Justification]) -> list[Grant]:
    return [
        g
        for g in unused
        if not any(j.function == g.function and j.action.lower() == g.action.lower() for j in allowed_unused)
    ]


def stale(unused: list[Grant], allowed_unused: list[Justification]) -> list[Justification]:
    """Justifications for grants that are used after all, or no longer exist: the file must stay true."""
    return [
        j
        for j in allowed_unused
        if not any(j.function == g.function and j.action.lower() == g.action.lower() for g in unused)
    ]

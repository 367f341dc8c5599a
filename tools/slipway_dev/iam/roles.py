"""The functions' IAM roles as CloudFormation would create them: ``template.yaml`` translated by samtranslator
(SAM CLI's own library: SAM policy templates expanded, roles generated per function), then each inline policy
resolved with the names of one stack (``slipway_dev.stack``). Managed policies (CloudWatch Logs, X-Ray) are what
the Lambda runtime itself uses, never slipway's code, so they are listed but not judged."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from slipway_dev.iam.policy import Statement
from slipway_dev.local.intrinsics import Resolver
from slipway_dev.template import TEMPLATE_PATH, functions, load_template

LOCAL_URI_KEYS = ("CodeUri", "ContentUri", "DefinitionUri")


class _NoManagedPolicyLookup:
    """samtranslator asks IAM for managed policy ARNs only for policies named by short name; slipway names none."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class Role:
    function: str
    statements: tuple[Statement, ...]
    managed_policies: tuple[str, ...] = field(default_factory=tuple)


def translate(template: dict[str, Any], region: str = "eu-west-2") -> dict[str, Any]:
    """The template as CloudFormation receives it (``sam build``/``sam deploy`` replace the local code paths
    with S3 URIs; placeholders stand in for them here, as ``sam validate`` does)."""
    from samtranslator.translator.transform import transform

    document = copy.deepcopy(template)
    for logical_id, resource in document["Resources"].items():
        props = resource.get("Properties") or {}
        for key in LOCAL_URI_KEYS:
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://sam-artifacts/{logical_id}/{key}"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # samtranslator reads the region for its pseudo parameters
    try:
        translated: dict[str, Any] = transform(document, {}, _NoManagedPolicyLookup())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved
    return translated


@lru_cache(maxsize=4)
def translated_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return translate(load_template(path))


def function_roles(resolver: Resolver, path: Path = TEMPLATE_PATH) -> dict[str, Role]:
    """Function logical id -> its role's statements, resolved with ``resolver``'s names."""
    translated = translated_template(path)
    resources = translated["Resources"]
    roles: dict[str, Role] = {}
    for function in functions(load_template(path)):
        role_ref = resources[function]["Properties"]["Role"]
        role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref else None
        if role_id is None:
            raise ValueError(f"{function}: its Role is not a role of this template ({role_ref})")
        props = resources[role_id]["Properties"]
        statements: list[Statement] = []
        for policy in props.get("Policies") or []:
            document = resolver.resolve(policy["PolicyDocument"])
            for index, raw in enumerate(document.get("Statement") or []):
                label = raw.get("Sid") or f"statement {index}"
                statements.append(Statement.parse(raw, f"{function}/{policy['PolicyName']}/{label}"))
        roles[function] = Role(
            function, tuple(statements), tuple(str(resolver.resolve(m)) for m in props.get("ManagedPolicyArns") or [])
        )
    return roles

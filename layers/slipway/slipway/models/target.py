"""Where an environment lives when it is not the control plane's own account and region (``Environment.target``,
docs/accounts.md): validated offline (the account id, the role in that account, a region botocore knows)."""

from __future__ import annotations

import functools
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# IAM names are ASCII; spelt out, not ``\w``, since pydantic-core's Rust regex reads ``\w`` as Unicode, and
# ``{1,64}`` of that class cost 45 ms of every cold start.
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}$"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore's endpoint data knows for ECS, in every partition (no network)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ecs", partition_name=partition)
    )


class Target(_Strict):
    """Where an environment lives when it is not the control plane's own account and region: slipway acts there
    through ``sts:AssumeRole`` on ``role_arn`` (the deploy role ``target-account.yaml`` creates)."""

    account_id: str = Field(
        pattern=r"^[0-9]{12}$", description="The AWS account of the environment.", examples=["210987654321"]
    )
    region: str = Field(description="The AWS region of the environment.", examples=["eu-central-1"])
    role_arn: str = Field(
        pattern=ROLE_ARN_PATTERN,
        description="The deploy role slipway assumes in that account (target-account.yaml's DeployRoleArn output).",
        examples=["arn:aws:iam::210987654321:role/slipway-deploy"],
    )
    external_id: str | None = Field(
        default=None,
        min_length=2,
        max_length=1224,
        pattern=r"^[A-Za-z0-9_+=,.@:/-]+$",
        description="The sts:ExternalId the role's trust policy requires, if it requires one.",
        examples=["slipway-production"],
    )

    @field_validator("region")
    @classmethod
    def _real_region(cls, value: str) -> str:
        if value not in known_regions():
            raise ValueError(f"{value!r} is not an AWS region botocore knows (for example eu-central-1, us-east-1)")
        return value

    @model_validator(mode="after")
    def _role_in_account(self) -> Target:
        role_account = re.fullmatch(ROLE_ARN_PATTERN, self.role_arn)
        if role_account is not None and role_account[1] != self.account_id:
            raise ValueError(
                f"role_arn is in account {role_account[1]} but account_id is {self.account_id}: the deploy role "
                "must be in the environment's own account"
            )
        return self

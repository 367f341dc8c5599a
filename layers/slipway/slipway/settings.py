"""Environment variables of every function, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slipway.errors import ConfigError


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    environment: str = Field(alias="SLIPWAY_ENVIRONMENT", min_length=1)
    state_table: str = Field(alias="SLIPWAY_STATE_TABLE", min_length=1)
    audit_table: str = Field(alias="SLIPWAY_AUDIT_TABLE", min_length=1)
    config_location: str = Field(alias="SLIPWAY_CONFIG_LOCATION", min_length=1)
    slack_secret_arn: str = Field(alias="SLIPWAY_SLACK_SECRET_ARN", min_length=1)
    slack_api_url: str = Field(alias="SLIPWAY_SLACK_API_URL", default="https://slack.com/api/")
    state_machine_arn: str | None = Field(alias="SLIPWAY_STATE_MACHINE_ARN", default=None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        names = [f.alias for f in cls.model_fields.values() if f.alias]
        try:
            return cls.model_validate({k: env[k] for k in names if k in env})
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid function environment: {problems}") from None

    def require_state_machine(self) -> str:
        if not self.state_machine_arn:
            raise ConfigError("SLIPWAY_STATE_MACHINE_ARN is not set for this function")
        return self.state_machine_arn


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read on first use (cold start), then cached for the life of the execution environment."""
    return Settings.from_env()

"""What a handler needs at run time, built once per execution environment from validated settings.

Nothing here runs at import time: handlers call ``runtime()`` inside the invocation, so a cold start
validates the environment variables once and every client is created on first use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from slipway.adapters.audit import AuditLog
from slipway.adapters.aws import AwsClients
from slipway.adapters.s3 import S3ConfigSource
from slipway.domain.config import ConfigSource, LocalConfigSource, load_config
from slipway.models.config import SlipwayConfig
from slipway.settings import Settings, get_settings

CONFIG_TTL_SECONDS = 60.0


@dataclass
class Runtime:
    settings: Settings
    aws: AwsClients = field(default_factory=AwsClients)
    _config: SlipwayConfig | None = None
    _config_loaded_at: float = 0.0

    @cached_property
    def config_source(self) -> ConfigSource:
        location = self.settings.config_location
        if location.startswith("s3://"):
            return S3ConfigSource(self.aws.s3, location)
        return LocalConfigSource(location)

    def config(self) -> SlipwayConfig:
        """The pipeline configuration, re-read at most once a minute so a `make publish-config` takes effect."""
        now = time.monotonic()
        if self._config is None or now - self._config_loaded_at > CONFIG_TTL_SECONDS:
            self._config = load_config(self.config_source)
            self._config_loaded_at = now
        return self._config

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.aws.dynamodb, self.settings.audit_table)


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one per execution environment, by design
    if _runtime is None:
        _runtime = Runtime(settings=get_settings())
    return _runtime


def reset_runtime(new: Runtime | None = None) -> None:
    """Tests and the local cloud swap in a runtime bound to moto."""
    global _runtime  # noqa: PLW0603
    _runtime = new
    get_settings.cache_clear()

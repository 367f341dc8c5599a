"""Fixtures every layer uses. Helpers live in tests/support (import them from there, never from a conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import iam
from tests.support.paths import ROOT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries the marker of its layer (tests/unit, tests/integration, tests/e2e): `-m unit` etc."""
    for item in items:
        for layer in ("unit", "integration", "e2e"):
            if f"/tests/{layer}/" in str(item.path):
                item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account, whatever the developer's shell has."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


# ---------------------------------------------------------------------------------------------- the IAM check
def pytest_addoption(parser: pytest.Parser) -> None:
    iam.addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    iam.configure(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    iam.sessionfinish(session)

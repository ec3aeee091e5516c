"""Fixtures for the trading property tests: pre-made sandbox keys (RSA generation is slow)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from xiaodian.payments.providers.sandbox import load_keys


@pytest.fixture(scope="session")
def trading_sandbox_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("trading-sandbox-keys") / "sandbox"
    load_keys(directory)
    return directory


@pytest.fixture
def sandbox_settings(settings: Any, trading_sandbox_keys: Path) -> Any:
    """The default settings (sandbox provider) with the sandbox's keys in place."""
    assert settings.payment_provider == "sandbox"
    target = Path(settings.data_dir) / "sandbox"
    if not target.exists():
        shutil.copytree(trading_sandbox_keys, target)
    return settings

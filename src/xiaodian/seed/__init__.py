"""Demo data: shops, products with generated images, buyers, creators, an operator, and
something waiting in every queue. Reads naturally in Chinese.

Each domain contributes a module here; ``seed_demo`` runs them in order, once, on an
empty database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import settings as settings_module
from xiaodian.accounts.models import User
from xiaodian.settings import Settings

DEMO_PASSWORD = "demo1234"
DEMO_LOGINS: list[tuple[str, str]] = [
    ("operator", "ops@xiaodian.test"),
    ("merchant", "13800000001"),
    ("buyer", "13900000001"),
    ("creator", "13700000001"),
]


def seed_demo(settings: Settings) -> bool:
    """Seed an empty database; return False (and change nothing) if it has accounts."""
    from xiaodian.seed import accounts as seed_accounts

    settings_module.install(settings)
    database = settings.database()
    try:
        with database.session() as db:
            if db.scalar(select(func.count()).select_from(User)):
                return False
            ctx = seed_accounts.run(db, settings)
            for step in _later_steps():
                step(db, settings, ctx)
            db.commit()
        return True
    finally:
        database.dispose()


def _later_steps() -> list[Callable[[Session, Settings, dict[str, Any]], None]]:
    """Seed steps of the other domains, in dependency order."""
    from xiaodian.seed import catalog, content, ledger, live, merchants

    return [merchants.run, catalog.run, ledger.run, content.run, live.run]

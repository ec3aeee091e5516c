"""The merchants models and migration 0003 describe the same tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from xiaodian.db import Base, all_models

TABLES = {"shops", "shop_members", "merchant_applications", "merchant_application_events"}


def _table_of(diff: object) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:] if isinstance(item, tuple) else ():
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None) in TABLES:
            return str(table.name)
        if name in TABLES:
            return str(name)
        if isinstance(part, str) and part in TABLES:
            return part
    return None


def test_models_match_the_migration(database):
    all_models()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _table_of(d)]
    assert diffs == []

"""The models and the migrations describe the same database, every table of it: a column
added to a model without a migration (or the other way round) fails here, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from xiaodian import domains
from xiaodian.db import Base

# What only the migrations create, on purpose: the search index of each backend.
MIGRATION_ONLY_TABLES = {
    "products_fts",
    "products_fts_idx",
    "products_fts_data",
    "products_fts_docsize",
    "products_fts_config",
}
MIGRATION_ONLY_INDEXES = {"ix_products_title_trgm"}


def _expected(diff: Any) -> bool:
    kind, obj = diff[0], diff[1]
    if kind == "remove_table":
        return str(obj.name) in MIGRATION_ONLY_TABLES
    if kind == "remove_index":
        return str(obj.name) in MIGRATION_ONLY_INDEXES
    return False


def test_models_match_the_migrations(database: Any) -> None:
    domains.load_models()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    unexpected = [d for d in diffs if not (isinstance(d, tuple) and _expected(d))]
    assert unexpected == []

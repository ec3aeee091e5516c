"""Demo data for merchants (filled in by the merchants domain)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xiaodian.settings import Settings


def run(db: Session, settings: Settings, ctx: dict[str, Any]) -> None:
    return None

"""Merchant onboarding (商家入驻), shops and their members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.merchants.models import ShopMember


def roles_of(db: Session, *, user_id: int) -> dict[int, str]:
    """The shops a user works for, with their role in each."""
    rows = db.execute(
        select(ShopMember.shop_id, ShopMember.role).where(ShopMember.user_id == user_id)
    )
    return {shop_id: str(role) for shop_id, role in rows}

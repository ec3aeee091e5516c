"""Promoters' reports: clicks, credited orders, GMV and commission per link (the promoter's)
and per product, plan and promoter (the shop's), from one promoted order; the pages show
them; another shop's staff see nothing of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.affiliates.test_commission import _promoted
from tests.ledger.conftest import Trade
from xiaodian.actor import Actor
from xiaodian.affiliates import links, reports
from xiaodian.errors import NotFound


def test_the_figures_of_one_promoted_order(trade: Trade, make_user: Any, login_client: Any) -> None:
    s = _promoted(trade)  # ¥100.00, 10 % commission, one click
    promoter = Actor(user_id=s["promoter"].id)
    with trade.session() as db:
        link = links.my_links(db, promoter)[0]
        mine = reports.promoter_links(db, promoter)[link.id]
    assert (mine.clicks, mine.orders, mine.gmv_fen, mine.commission_fen) == (1, 1, 10000, 1000)
    with trade.session() as db:
        shop = reports.shop_report(db, s["owner"], s["shop"].id)
    (product,) = shop.products.values()
    (plan,) = shop.plans.values()
    (by_promoter,) = shop.promoters.values()
    for figures in (product, by_promoter):
        assert (figures.clicks, figures.orders, figures.gmv_fen, figures.commission_fen) == (
            1,
            1,
            10000,
            1000,
        )
    # a plan has no clicks of its own (links are the promoters', not the plan's)
    assert (plan.clicks, plan.orders, plan.gmv_fen, plan.commission_fen) == (0, 1, 10000, 1000)
    with trade.session() as db, pytest.raises(NotFound):
        reports.shop_report(db, Actor(user_id=make_user().id), s["shop"].id)
    page = login_client(_owner(trade, s)).get(f"/merchant/shops/{s['shop'].id}/affiliates")
    assert page.status_code == 200 and 'data-testid="promotion-report"' in page.text
    mine_page = login_client(s["promoter"]).get("/me/links")
    assert "1 次点击 · 1 单 · 成交 ¥100.00 · 佣金 ¥10.00" in mine_page.text


def _owner(trade: Trade, s: dict[str, Any]) -> Any:
    from xiaodian.accounts.models import User

    with trade.session() as db:
        user = db.get(User, s["owner"].user_id)
        db.expunge(user)
        return user

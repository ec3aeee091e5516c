"""Races on reviews, with real threads and a session each, on SQLite and PostgreSQL: the
same order reviewed twice at once (one wins), reviews of one product at once (every one
counts in the figures), and two replies at once (one wins)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from tests.orders.test_races import _run
from tests.reviews.conftest import World
from xiaodian.errors import Conflict
from xiaodian.reviews import figures, service, writing
from xiaodian.reviews.models import Review


def _plain(order: Any) -> tuple[str, list[int]]:
    """The order's number and line ids, read before the threads start (no shared session)."""
    return order.order_no, [line.id for line in order.lines]


def _submit(w: World, actor: Any, order: tuple[str, list[int]]) -> Any:
    order_no, line_ids = order
    with w.database.session() as session:
        return writing.create_review(
            session,
            actor,
            order_no,
            lines=[writing.LineReview(line_id, 4, "好") for line_id in line_ids],
            service_stars=5,
            logistics_stars=5,
        ).id


def test_one_order_reviewed_twice_at_once_counts_once(world: World) -> None:
    order = _plain(world.received())
    actor = world.buyer_actor
    results = _run(4, lambda _i: _submit(world, actor, order))
    wins = [r for r in results if isinstance(r, int)]
    assert len(wins) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int))
    world.db.rollback()
    assert world.db.scalar(select(func.count()).select_from(Review)) == 1
    assert service.product_figures(world.db, product_id=world.product.id).review_count == 1
    assert figures.check_figures(world.db) == []


def test_reviews_of_one_product_at_once_all_count(world: World) -> None:
    orders = [_plain(world.received()) for _ in range(4)]
    actor = world.buyer_actor
    results = _run(4, lambda i: _submit(world, actor, orders[i]))
    assert all(isinstance(r, int) for r in results), results
    world.db.rollback()
    f = service.product_figures(world.db, product_id=world.product.id)
    assert (f.review_count, f.star_sum) == (4, 16)
    assert service.shop_figures(world.db, shop_id=world.shop_id).review_count == 4
    assert figures.check_figures(world.db) == []


def test_two_replies_at_once_one_wins(world: World) -> None:
    order = world.received()
    item_id = (
        writing.create_review(
            world.db,
            world.buyer_actor,
            order.order_no,
            lines=[writing.LineReview(order.lines[0].id, 5)],
            service_stars=5,
            logistics_stars=5,
        )
        .items[0]
        .id
    )
    staff = world.staff_actor
    owner = world.actor(world.owner)
    lock = threading.Lock()
    texts: list[str] = []

    def reply(i: int) -> Any:
        with world.database.session() as session:
            item = writing.reply(
                session, (staff, owner)[i % 2], world.shop_id, item_id, text=f"回复{i}"
            )
            with lock:
                texts.append(item.reply_text or "")
            return item.id

    results = _run(4, reply)
    assert sum(1 for r in results if r == item_id) == 1, results
    world.db.rollback()
    assert service.get_item(world.db, item_id).reply_text == texts[0]

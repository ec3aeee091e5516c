"""A crowd racing for the last coupons, with real threads against real SQLite and
PostgreSQL (and through the Redis gate): exactly the quantity is issued, nobody above the
limit per buyer, every counter agreeing with the rows."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from xiaodian.accounts.models import User
from xiaodian.actor import Actor
from xiaodian.campaigns import claims
from xiaodian.campaigns.models import Coupon, CouponClaimer, CouponTemplate
from xiaodian.errors import Conflict

QUANTITY = 60
BUYERS = 120
LIMIT = 2
TRIES = 3  # each buyer tries once more than the limit
THREADS = 12


def _buyers(scene: Scene, n: int) -> list[int]:
    with scene.database.session() as db:
        users = [
            User(phone=f"1{k + 6_000_000_000:010d}", password_hash="-", display_name=f"买家{k}")
            for k in range(n)
        ]
        db.add_all(users)
        db.commit()
        return [u.id for u in users]


def _race(scene: Scene, template_id: int, buyers: list[int]) -> Counter[str]:
    attempts = [b for b in buyers for _ in range(TRIES)]
    random.Random(7).shuffle(attempts)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def one(chunk: list[int]) -> None:
        start.wait()
        for buyer_id in chunk:
            with scene.database.session() as db:
                try:
                    claims.claim(db, Actor(user_id=buyer_id), template_id)
                    outcome = "claimed"
                except Conflict as exc:
                    outcome = exc.code
            with lock:
                outcomes[outcome] += 1

    chunks = [attempts[i::THREADS] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, chunks))
    return outcomes


def _check(scene: Scene, template_id: int, outcomes: Counter[str]) -> None:
    assert outcomes["claimed"] == QUANTITY, outcomes
    assert set(outcomes) <= {"claimed", "coupons_gone", "claim_limit"}, outcomes
    with scene.database.session(write=False) as db:
        template = db.get(CouponTemplate, template_id)
        assert template is not None and template.issued == QUANTITY
        per_buyer = Counter(db.scalars(select(Coupon.buyer_id)))
        assert sum(per_buyer.values()) == QUANTITY
        assert max(per_buyer.values()) <= LIMIT
        counted = dict(db.execute(select(CouponClaimer.buyer_id, CouponClaimer.claimed)).all())
        assert counted == dict(per_buyer)
        assert db.scalar(select(func.count()).select_from(Coupon)) == QUANTITY


def test_a_crowd_gets_exactly_the_quantity(scene: Scene) -> None:
    template = scene.template(quantity=QUANTITY, per_buyer_limit=LIMIT)
    outcomes = _race(scene, template.id, _buyers(scene, BUYERS))
    _check(scene, template.id, outcomes)


def test_a_crowd_through_the_redis_gate(
    scene: Scene, redis_settings: Any, redis_target: Any
) -> None:
    template = scene.template(quantity=QUANTITY, per_buyer_limit=LIMIT)
    outcomes = _race(scene, template.id, _buyers(scene, BUYERS))
    _check(scene, template.id, outcomes)
    assert int(redis_target.client.get(f"{redis_target.prefix}coupon:{template.id}:left")) == 0


def test_a_budget_holds_under_a_crowd(scene: Scene) -> None:
    # ¥20 each, a ¥1,000 budget: exactly 50 of 200 are issued
    template = scene.template(quantity=200, per_buyer_limit=LIMIT, budget_fen=100_000)
    outcomes = _race(scene, template.id, _buyers(scene, BUYERS))
    assert outcomes["claimed"] == 50, outcomes
    with scene.database.session(write=False) as db:
        row = db.get(CouponTemplate, template.id)
        assert row is not None and (row.issued, row.committed_fen) == (50, 100_000)


def test_the_gate_forgets_what_a_dead_process_admitted(
    scene: Scene, redis_settings: Any, redis_target: Any, make_user: Any
) -> None:
    """An admission lost with its process keeps a coupon from the crowd only until the
    gate's keys expire; then the database teaches it again."""
    from xiaodian.campaigns import claim_gate

    template = scene.template(quantity=1)
    gate = claim_gate.redis_gate()
    assert gate is not None
    assert gate.take(template.id, 10_000) == 0  # admitted, then the process died
    buyer = make_user()
    with scene.database.session() as db, pytest.raises(Conflict):
        claims.claim(db, Actor(user_id=buyer.id), template.id)  # the gate says: gone
    for key in gate.keys(template.id):
        redis_target.client.delete(key)  # what FORGET seconds do
    with scene.database.session() as db:
        coupon, _template = claims.claim(db, Actor(user_id=buyer.id), template.id)
    assert coupon.buyer_id == buyer.id

"""Violations through the services: each penalty applied and undone by an accepted appeal,
the points in the health score, the deadlines (the frozen clock), the rules job, and bad
input writing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.violations.conftest import World, png
from xiaodian.cases.models import Case
from xiaodian.catalog import service as catalog_service
from xiaodian.content.live import service as live_service
from xiaodian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from xiaodian.health import service as health_service
from xiaodian.merchants import service as merchants_service
from xiaodian.violations import appeals, recording, rules, service
from xiaodian.violations.models import Appeal, Violation, ViolationEvent


def _record(w: World, **kw: Any) -> Violation:
    data = {
        "shop_id": w.shop_id,
        "target_kind": "shop",
        "target_id": None,
        "rule": "false_advertising",
        "evidence_text": "标题写着纯棉，实际是涤纶",
        "penalty": "points",
        "points": 6,
        **kw,
    }
    return recording.record(w.db, w.operator_actor, recording.Record(**data))


def _case(w: World, queue: str, key: str) -> Case | None:
    w.db.expire_all()
    return w.db.scalar(select(Case).where(Case.queue == queue, Case.key == key))


def _appeal(w: World, v: Violation, **kw: Any) -> Appeal:
    return appeals.file_appeal(
        w.db, w.staff_actor, w.shop_id, v.id, text=kw.pop("text", "有质检报告"), **kw
    )


def _score(w: World) -> int:
    w.db.expire_all()
    health = health_service.current(w.db, shop_id=w.shop_id)
    assert health is not None
    return health.score


def test_points_come_off_the_score_and_return_on_an_accepted_appeal(
    world: World, other_operator: Any
) -> None:
    v = _record(world, photos=[png()])
    assert len(v.evidence_photos) == 1
    assert _score(world) == 94  # no data anywhere: 100, less 6
    case = _case(world, "violations", f"violation:{v.id}")
    assert case is not None and case.closed_at is None and case.shop_id == world.shop_id
    appeal = _appeal(world, v, photos=[png((0, 0, 200))])
    assert len(appeal.photos) == 1
    shop_case = _case(world, "violations", f"violation:{v.id}")
    assert shop_case is not None and shop_case.outcome == "appealed"
    ops_case = _case(world, "appeals", f"appeal:{v.id}")
    assert ops_case is not None and ops_case.closed_at is None
    # the recording operator may not decide it
    with pytest.raises(PermissionDenied):
        appeals.decide(world.db, world.operator_actor, v.id, accept=True, note="同意")
    world.db.rollback()
    decided = appeals.decide(
        world.db, world.actor(other_operator), v.id, accept=True, note="报告属实"
    )
    assert decided.status == "reversed"
    assert _score(world) == 100
    ops_case = _case(world, "appeals", f"appeal:{v.id}")
    assert ops_case is not None and ops_case.outcome == "accepted"
    actions = [e.action for e in service.get_violation(world.db, v.id).events]
    assert actions == ["recorded", "appealed", "accepted"]
    # a second appeal after the decision
    with pytest.raises(Conflict):
        _appeal(world, v)


def test_a_removed_product_is_reinstated(world: World, other_operator: Any) -> None:
    v = _record(
        world, target_kind="product", target_id=world.product.id, penalty="remove_product", points=0
    )
    world.db.expire_all()
    assert catalog_service.get_product(world.db, world.product.id).status == "rejected"
    _appeal(world, v)
    appeals.decide(world.db, world.actor(other_operator), v.id, accept=True, note="误判")
    world.db.expire_all()
    assert catalog_service.get_product(world.db, world.product.id).status == "on_sale"


def test_a_live_limit_refuses_rooms_until_reversed(world: World, other_operator: Any) -> None:
    v = _record(world, penalty="live_limit", points=0, days=7)
    refusal = live_service._room_checks[-1](world.db, world.shop_id)
    assert refusal is not None and refusal.code == "violation_no_live"
    assert live_service._air_checks[-1](world.db, world.shop_id) is not None
    _appeal(world, v)
    appeals.decide(world.db, world.actor(other_operator), v.id, accept=True, note="误判")
    assert live_service._room_checks[-1](world.db, world.shop_id) is None


def test_a_live_limit_ends_with_its_days(world: World, clock: Any) -> None:
    _record(world, penalty="live_limit", points=0, days=2)
    clock.advance(timedelta(days=2, seconds=1))
    assert live_service._room_checks[-1](world.db, world.shop_id) is None


def test_a_suspension_until_lifted(world: World, other_operator: Any) -> None:
    v = _record(world, penalty="suspend", points=0, days=None)
    world.db.expire_all()
    assert merchants_service.get_shop(world.db, world.shop_id).is_active is False
    recording.lift(world.db, world.actor(other_operator), v.id, note="整改完成")
    world.db.expire_all()
    assert merchants_service.get_shop(world.db, world.shop_id).is_active is True
    with pytest.raises(Conflict):
        recording.lift(world.db, world.operator_actor, v.id)


def test_a_suspension_is_reversed_by_an_appeal(world: World, other_operator: Any) -> None:
    v = _record(world, penalty="suspend", points=0, days=30)
    _appeal(world, v)
    appeals.decide(world.db, world.actor(other_operator), v.id, accept=True, note="误判")
    world.db.expire_all()
    assert merchants_service.get_shop(world.db, world.shop_id).is_active is True


def test_a_rejected_appeal_keeps_the_penalty(world: World, other_operator: Any) -> None:
    v = _record(world)
    _appeal(world, v)
    appeals.decide(world.db, world.actor(other_operator), v.id, accept=False, note="证据不足")
    assert _score(world) == 94
    assert service.get_violation(world.db, v.id).status == "upheld"


def test_the_deadline_passes(world: World, clock: Any) -> None:
    v = _record(world)
    clock.advance(timedelta(days=3, seconds=1))
    with pytest.raises(Conflict) as info:
        _appeal(world, v)
    assert info.value.code == "appeal_deadline_passed"
    world.db.rollback()
    assert recording.expire_due(world.db) == 1
    world.db.expire_all()
    assert service.get_violation(world.db, v.id).status == "expired"
    case = _case(world, "violations", f"violation:{v.id}")
    assert case is not None and case.outcome == "expired"


def test_fixed_then_no_appeal(world: World) -> None:
    v = _record(world)
    appeals.mark_fixed(world.db, world.staff_actor, world.shop_id, v.id, note="已改标题")
    with pytest.raises(Conflict):
        _appeal(world, v)


def _counts(w: World) -> tuple[int, int, int]:
    w.db.rollback()
    return (
        w.db.scalar(select(func.count()).select_from(Violation)) or 0,
        w.db.scalar(select(func.count()).select_from(Appeal)) or 0,
        w.db.scalar(select(func.count()).select_from(ViolationEvent)) or 0,
    )


def test_bad_input_writes_nothing(world: World, settings: Any) -> None:
    v = _record(world)
    before = _counts(world)
    for call, error in (
        (lambda: _record(world, points=0), InvalidInput),
        (lambda: _record(world, rule="nope"), InvalidInput),
        (lambda: _record(world, penalty="nope"), InvalidInput),
        (lambda: _record(world, shop_id=2**31 - 1), NotFound),
        (lambda: _record(world, target_kind="product", target_id=world.product.id + 999), NotFound),
        (lambda: _record(world, photos=[b"not an image"]), InvalidInput),
        (lambda: _record(world, photos=[png()] * 10), InvalidInput),
        (lambda: _appeal(world, v, photos=[b"GIF89a nope"]), InvalidInput),
        (lambda: _appeal(world, v, text=""), InvalidInput),
        (
            lambda: appeals.file_appeal(
                world.db, world.actor(world.other_owner), world.other_shop_id, v.id, text="x"
            ),
            NotFound,
        ),
        (
            lambda: appeals.file_appeal(world.db, world.staff_actor, world.shop_id, 999, text="x"),
            NotFound,
        ),
        (
            lambda: appeals.decide(world.db, world.operator_actor, v.id, accept=True, note="x"),
            Conflict,
        ),
        (
            lambda: recording.record(
                world.db,
                world.staff_actor,
                recording.Record(world.shop_id, "shop", None, "other", "x", "warning"),
            ),
            PermissionDenied,
        ),
    ):
        with pytest.raises(error):
            call()
        assert _counts(world) == before
    media_dir = settings.media_dir / "violations"
    kept = {p.name for p in media_dir.rglob("*") if p.is_file()} if media_dir.exists() else set()
    assert not kept  # nothing stored for the refused ones (the first had no photos)


def test_one_appeal(world: World) -> None:
    v = _record(world)
    _appeal(world, v)
    with pytest.raises(Conflict) as info:
        _appeal(world, v)
    assert info.value.code == "appeal_exists"


def test_the_rules_job(world: World, clock: Any, monkeypatch: Any) -> None:
    world.paid()  # never shipped
    clock.advance(timedelta(hours=49))
    from xiaodian.catalog import screening

    monkeypatch.setattr(screening, "words", lambda: ["测试商品"])
    found = rules.run_rules(world.db)
    assert found >= 1
    world.db.expire_all()
    got = {v.rule for v in world.db.scalars(select(Violation))}
    assert {"late_shipment", "prohibited_words"} <= got
    assert catalog_service.get_product(world.db, world.product.id).status == "rejected"
    assert rules.run_rules(world.db) == 0  # nothing recorded twice

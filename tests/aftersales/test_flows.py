"""Each after-sales path end to end through the services, with the real orders and
payments (sandbox) services underneath."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.aftersales.conftest import World, stock
from xiaodian.aftersales import arbitration, cases, refunds, returns, service
from xiaodian.aftersales.models import AftersaleCase, AftersaleEvent
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from xiaodian.payments import reconcile as payments_reconcile
from xiaodian.payments.models import Refund


def refunds_for(world: World, case_id: int) -> list[Refund]:
    return list(world.db.scalars(select(Refund).where(Refund.ref == f"aftersale:{case_id}")))


def fresh(world: World, case_id: int) -> AftersaleCase:
    world.db.expire_all()
    case = world.db.get(AftersaleCase, case_id)
    assert case is not None
    return case


def actions(world: World, case_id: int) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.role, e.to_status) for e in service.case_events(world.db, case_id)]


def test_refund_only_before_shipping_closes_the_order(world: World) -> None:
    order = world.paid()
    assert stock(world.db, world.sku_id) == (98, 0, 2, 100)
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="wrong_item_ordered",
        description="拍错了颜色",
    )
    assert case.status == "requested" and case.requested_fen == order.total_fen
    assert world.refresh(order).aftersale_open is True
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    assert fresh(world, case.id).status == "refunding"
    assert [r.amount_fen for r in refunds_for(world, case.id)] == [order.total_fen]
    assert world.settle_refunds() == 1
    case = fresh(world, case.id)
    assert case.status == "refunded" and case.refunded_fen == order.total_fen
    order = world.refresh(order)
    assert order.status == "closed" and order.refunded_fen == order.paid_fen
    assert order.aftersale_open is False
    # the order restocked its sold units when it closed
    assert stock(world.db, world.sku_id) == (100, 0, 0, 100)
    assert actions(world, case.id) == [
        ("open", "buyer", "requested"),
        ("approve", "merchant", "approved"),
        ("start_refund", "merchant", "refunding"),
        ("settle", "payment", "refunded"),
    ]
    # payments telling us twice changes nothing
    again = refunds.refund_settled(world.db, ref=f"aftersale:{case.id}", amount_fen=3980)
    assert again is not None and again.status == "refunded"
    assert len(service.case_events(world.db, case.id)) == 4
    assert refunds.refund_settled(world.db, ref="auto:order-cancelled", amount_fen=1) is None


@pytest.mark.parametrize("restock", [True, False])
def test_return_and_refund_with_tracking_and_restock(world: World, restock: bool) -> None:
    order = world.received([(world.sku_id, 3)])
    line = order.lines[0]
    assert stock(world.db, world.sku_id) == (97, 0, 3, 100)
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=line.id,
        kind="return_refund",
        reason="no_longer_wanted",
        quantity=2,
    )
    assert case.requested_fen == 2 * 1990
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    assert fresh(world, case.id).status == "approved"
    assert refunds_for(world, case.id) == []  # not before the goods are back
    with pytest.raises(InvalidInput):
        returns.ship_back(world.db, world.buyer_actor, case.id, carrier="鸽子", tracking_no="1")
    returns.ship_back(
        world.db, world.buyer_actor, case.id, carrier="中通", tracking_no="7312345678901"
    )
    case = fresh(world, case.id)
    assert case.status == "awaiting_return"
    assert (case.return_carrier, case.return_tracking_no) == ("中通快递", "7312345678901")
    with pytest.raises(IllegalTransition):  # no withdrawing once the goods are on their way
        cases.withdraw(world.db, world.buyer_actor, case.id)
    returns.confirm_return(world.db, world.staff_actor, world.shop.id, case.id, restock=restock)
    case = fresh(world, case.id)
    assert case.status == "refunding" and case.restocked is restock
    on_hand, reserved, sold, received = stock(world.db, world.sku_id)
    assert (on_hand, sold) == ((99, 1) if restock else (97, 3))
    assert on_hand + reserved + sold == received == 100
    world.settle_refunds()
    assert fresh(world, case.id).status == "refunded"
    order = world.refresh(order)
    assert order.refunded_fen == 3980 and order.status == "completed"
    assert order.aftersale_open is False


def test_exchange(world: World, clock: Any) -> None:
    order = world.received([(world.sku_id, 1)])
    line = order.lines[0]
    with pytest.raises(InvalidInput):  # an exchange has no money to ask for
        cases.open_case(
            world.db,
            world.buyer_actor,
            order_no=order.order_no,
            line_id=line.id,
            kind="swap",
            reason="quality",
        )
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=line.id,
        kind="exchange",
        reason="quality",
        description="开线了",
    )
    assert case.requested_fen == 0
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    returns.ship_back(
        world.db, world.buyer_actor, case.id, carrier="SF", tracking_no="SF1000000000001"
    )
    returns.confirm_return(world.db, world.staff_actor, world.shop.id, case.id, restock=False)
    assert fresh(world, case.id).status == "returned"
    with pytest.raises(InvalidInput):
        returns.reship(
            world.db, world.staff_actor, world.shop.id, case.id, carrier="SF", tracking_no="x"
        )
    returns.reship(
        world.db,
        world.staff_actor,
        world.shop.id,
        case.id,
        carrier="顺丰",
        tracking_no="SF2000000000002",
    )
    case = fresh(world, case.id)
    assert case.status == "reshipped" and case.reship_tracking_no == "SF2000000000002"
    # the replacement left the warehouse; the faulty one was not put back
    on_hand, reserved, sold, received = stock(world.db, world.sku_id)
    assert (on_hand, reserved, sold, received) == (98, 0, 2, 100)
    assert refunds_for(world, case.id) == []
    # not confirmed by the buyer: completed automatically after the receipt period
    assert returns.auto_complete_exchanges(world.db) == 0
    clock.advance(days=11)
    assert returns.auto_complete_exchanges(world.db) == 1
    assert returns.auto_complete_exchanges(world.db) == 0
    assert fresh(world, case.id).status == "completed"
    assert world.refresh(order).aftersale_open is False


def test_exchange_confirmed_by_buyer(world: World) -> None:
    order = world.received([(world.sku_id, 1)])
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=order.lines[0].id,
        kind="exchange",
        reason="not_as_described",
    )
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    returns.ship_back(
        world.db, world.buyer_actor, case.id, carrier="SF", tracking_no="SF1000000000001"
    )
    returns.confirm_return(world.db, world.staff_actor, world.shop.id, case.id, restock=True)
    returns.reship(
        world.db,
        world.staff_actor,
        world.shop.id,
        case.id,
        carrier="SF",
        tracking_no="SF2000000000002",
    )
    on_hand, reserved, sold, received = stock(world.db, world.sku_id)
    assert (on_hand, sold) == (99, 1) and on_hand + reserved + sold == received
    returns.confirm_exchange_received(world.db, world.buyer_actor, case.id)
    assert fresh(world, case.id).status == "completed"
    with pytest.raises(IllegalTransition):
        returns.confirm_exchange_received(world.db, world.buyer_actor, case.id)


def test_partial_refund_needs_a_note_and_leaves_the_rest(world: World) -> None:
    order = world.shipped([(world.sku_id, 2)])
    line = order.lines[0]
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=line.id,
        kind="refund_only",
        reason="quality",
        amount_fen=3000,
    )
    with pytest.raises(InvalidInput):  # less than asked, without saying why
        cases.approve(world.db, world.staff_actor, world.shop.id, case.id, amount_fen=1000)
    world.db.rollback()
    with pytest.raises(InvalidInput):  # more than asked
        cases.approve(
            world.db, world.staff_actor, world.shop.id, case.id, amount_fen=3001, note="x"
        )
    world.db.rollback()
    cases.approve(
        world.db, world.staff_actor, world.shop.id, case.id, amount_fen=1000, note="小瑕疵补偿"
    )
    assert [r.amount_fen for r in refunds_for(world, case.id)] == [1000]
    world.settle_refunds()
    order = world.refresh(order)
    assert order.refunded_fen == 1000 and order.status == "shipped"
    # what is left of the line may still be asked for, not more
    options = cases.case_options(
        world.db, world.buyer_actor, order_no=order.order_no, line_id=line.id
    )
    assert options.max_refund_fen == 3980 - 1000 and options.blocked is None
    with pytest.raises(InvalidInput):
        cases.open_case(
            world.db,
            world.buyer_actor,
            order_no=order.order_no,
            line_id=line.id,
            kind="refund_only",
            reason="quality",
            amount_fen=2981,
        )


def test_auto_approval_after_48_hours_runs_once(world: World, clock: Any) -> None:
    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="no_longer_wanted",
    )
    clock.advance(hours=47, minutes=59)
    assert cases.auto_approve_due(world.db) == 0
    assert fresh(world, case.id).status == "requested"
    clock.advance(minutes=2)
    assert cases.auto_approve_due(world.db) == 1
    assert cases.auto_approve_due(world.db) == 0
    case = fresh(world, case.id)
    assert case.status == "refunding"
    assert len(refunds_for(world, case.id)) == 1
    events = service.case_events(world.db, case.id)
    assert [(e.action, e.role, e.actor_id) for e in events[1:]] == [
        ("approve", "system", None),
        ("start_refund", "system", None),
    ]
    with pytest.raises(IllegalTransition):  # the merchant is too late now
        cases.approve(world.db, world.staff_actor, world.shop.id, case.id)


def test_auto_approval_follows_the_setting(world: World, clock: Any, settings: Any) -> None:
    from xiaodian import settings as settings_module

    settings_module.install(settings.model_copy(update={"aftersales_auto_approve_hours": 2}))
    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="no_longer_wanted",
    )
    clock.advance(hours=2)
    assert cases.auto_approve_due(world.db) == 1
    assert fresh(world, case.id).status == "refunding"


def _rejected_return(world: World) -> tuple[Any, AftersaleCase]:
    order = world.shipped()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=order.lines[0].id,
        kind="return_refund",
        reason="not_as_described",
        description="颜色和图片差很多",
    )
    with pytest.raises(InvalidInput):
        cases.reject(world.db, world.staff_actor, world.shop.id, case.id, reason="  ")
    world.db.rollback()
    cases.reject(world.db, world.staff_actor, world.shop.id, case.id, reason="色差在说明范围内")
    case = fresh(world, case.id)
    assert case.status == "rejected" and case.reject_reason == "色差在说明范围内"
    assert world.refresh(order).aftersale_open is False  # a rejected case does not hold it
    return order, case


def test_escalation_and_arbitration_for_the_buyer(world: World, clock: Any) -> None:
    order, case = _rejected_return(world)
    clock.advance(days=6, hours=23)
    arbitration.escalate(world.db, world.buyer_actor, case.id, note="请平台看看照片")
    assert fresh(world, case.id).status == "escalated"
    assert world.refresh(order).aftersale_open is True
    queue = arbitration.arbitration_queue(world.db, world.operator_actor)
    assert [c.id for c in queue.cases] == [case.id]
    with pytest.raises(InvalidInput):
        arbitration.arbitrate(world.db, world.operator_actor, case.id, decision="approve", note="")
    world.db.rollback()
    arbitration.arbitrate(
        world.db, world.operator_actor, case.id, decision="approve", note="图片与实物不符"
    )
    assert fresh(world, case.id).status == "approved"
    returns.ship_back(
        world.db, world.buyer_actor, case.id, carrier="EMS", tracking_no="1234567890123"
    )
    returns.confirm_return(world.db, world.staff_actor, world.shop.id, case.id, restock=True)
    world.settle_refunds()
    assert fresh(world, case.id).status == "refunded"
    assert ("arbitrate_approve", "operator", "approved") in actions(world, case.id)


def test_arbitration_upholds_the_rejection(world: World) -> None:
    order, case = _rejected_return(world)
    arbitration.escalate(world.db, world.buyer_actor, case.id)
    arbitration.arbitrate(
        world.db, world.operator_actor, case.id, decision="uphold", note="证据不足"
    )
    case = fresh(world, case.id)
    assert case.status == "closed" and case.open_key is None
    assert world.refresh(order).aftersale_open is False
    with pytest.raises(IllegalTransition):
        arbitration.escalate(world.db, world.buyer_actor, case.id)


def test_escalation_after_seven_days_is_refused(world: World, clock: Any) -> None:
    _order, case = _rejected_return(world)
    clock.advance(days=7, minutes=1)
    with pytest.raises(Conflict) as exc:
        arbitration.escalate(world.db, world.buyer_actor, case.id)
    assert exc.value.code == "escalation_window_closed"
    world.db.rollback()
    assert arbitration.expire_escalations(world.db) == 1
    assert arbitration.expire_escalations(world.db) == 0
    assert fresh(world, case.id).status == "closed"


def test_escalation_refused_while_a_new_case_is_open(world: World) -> None:
    order, case = _rejected_return(world)
    cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=order.lines[0].id,
        kind="refund_only",
        reason="quality",
    )
    with pytest.raises(Conflict):
        arbitration.escalate(world.db, world.buyer_actor, case.id)


def test_withdraw(world: World) -> None:
    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="other",
    )
    cases.withdraw(world.db, world.buyer_actor, case.id, note="不退了")
    case = fresh(world, case.id)
    assert case.status == "cancelled" and case.closed_at is not None
    assert world.refresh(order).aftersale_open is False
    with pytest.raises(IllegalTransition):
        cases.withdraw(world.db, world.buyer_actor, case.id)
    world.db.rollback()
    with pytest.raises(IllegalTransition):
        cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    # the order can be shipped again once no case is open
    world.ship(order)


def test_double_approve_is_409_and_refunds_once(world: World) -> None:
    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="no_longer_wanted",
    )
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    with pytest.raises(IllegalTransition):
        cases.approve(world.db, world.actor(world.owner), world.shop.id, case.id)
    world.db.rollback()
    assert len(refunds_for(world, case.id)) == 1
    n = world.db.scalar(
        select(func.count())
        .select_from(AftersaleEvent)
        .where(AftersaleEvent.case_id == case.id, AftersaleEvent.action == "approve")
    )
    assert n == 1


def test_concurrent_approvals_refund_once(world: World) -> None:
    """Two clicks at the same moment from two sessions: one wins, the other gets 409."""
    import threading

    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="no_longer_wanted",
    )
    actor, shop_id, case_id = world.staff_actor, world.shop.id, case.id
    world.db.rollback()  # our own session must not hold the SQLite write lock
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def click() -> None:
        with world.database.session() as session:
            barrier.wait()
            try:
                cases.approve(session, actor, shop_id, case_id)
                outcomes.append("ok")
            except IllegalTransition:
                outcomes.append("409")

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "409", "409", "ok"]
    assert len(refunds_for(world, case_id)) == 1


def test_refund_failure_is_recorded(world: World) -> None:
    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="no_longer_wanted",
    )
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    refunds.refund_failed(world.db, ref=f"aftersale:{case.id}", reason="ABNORMAL")
    world.db.commit()
    case = fresh(world, case.id)
    assert case.status == "refunding"
    assert actions(world, case.id)[-1] == ("refund_failed", "payment", "refunding")


def test_a_failed_refund_is_sent_again_and_settles_the_case(world: World, clock: Any) -> None:
    from xiaodian.payments import service as payments_service

    operator = world.actor(world.operator)
    # (before the sandbox's first use: this once left it without its keys)
    payments_service.sandbox_set_refund_mode(operator, "processing")
    order = world.paid()
    case = cases.open_case(
        world.db,
        world.buyer_actor,
        order_no=order.order_no,
        line_id=None,
        kind="refund_only",
        reason="no_longer_wanted",
    )
    cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    assert world.settle_refunds() == 1  # sent; the provider is processing it
    [first] = refunds_for(world, case.id)
    payments_service.sandbox_refund_outcome(
        world.db, operator, out_refund_no=first.out_refund_no, outcome="closed"
    )
    clock.advance(minutes=30)
    payments_reconcile.reconcile(world.db)  # the provider says: closed
    world.db.expire_all()
    assert first.status == "failed" and fresh(world, case.id).status == "refunding"
    assert payments_service.count_failed_refunds(world.db, operator) == 1
    # nobody but an operator, and only a failed refund
    with pytest.raises(PermissionDenied):
        payments_service.retry_refund(
            world.db, world.buyer_actor, out_refund_no=first.out_refund_no
        )
    world.db.rollback()
    payments_service.sandbox_set_refund_mode(operator, "success")
    retry = payments_service.retry_refund(world.db, operator, out_refund_no=first.out_refund_no)
    assert retry.ref == f"aftersale:{case.id}#r{first.id}" and retry.amount_fen == first.amount_fen
    assert retry.status == "pending" and retry.out_refund_no != first.out_refund_no
    # a second click gives the same retry back, nothing more
    again = payments_service.retry_refund(world.db, operator, out_refund_no=first.out_refund_no)
    assert again.out_refund_no == retry.out_refund_no
    assert payments_service.count_failed_refunds(world.db, operator) == 0
    with pytest.raises(Conflict):
        payments_service.retry_refund(world.db, operator, out_refund_no=retry.out_refund_no)
    world.db.rollback()
    assert world.settle_refunds() == 1  # the retry succeeds at once
    case = fresh(world, case.id)
    assert case.status == "refunded" and case.refunded_fen == first.amount_fen
    assert world.refresh(order).refunded_fen == first.amount_fen
    assert actions(world, case.id)[-2:] == [
        ("refund_failed", "payment", "refunding"),
        ("settle", "payment", "refunded"),
    ]
    with pytest.raises(NotFound):
        payments_service.retry_refund(world.db, operator, out_refund_no="RF-none")

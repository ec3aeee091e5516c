"""The rules a case must follow: amounts, windows, caps, who may open what."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.aftersales.conftest import World
from tests.factories import make_product
from xiaodian.actor import ANONYMOUS
from xiaodian.aftersales import cases, service
from xiaodian.aftersales.models import AftersaleCase
from xiaodian.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from xiaodian.payments import service as payments_service


def open_line(world: World, order: Any, **kwargs: Any) -> AftersaleCase:
    args: dict[str, Any] = {
        "order_no": order.order_no,
        "line_id": order.lines[0].id,
        "kind": "refund_only",
        "reason": "quality",
    }
    args.update(kwargs)
    return cases.open_case(world.db, world.buyer_actor, **args)


def case_count(world: World) -> int:
    world.db.rollback()
    return int(world.db.scalar(select(func.count()).select_from(AftersaleCase)) or 0)


def test_refund_above_refundable_is_refused(world: World) -> None:
    order = world.paid([(world.sku_id, 2)])
    with pytest.raises(InvalidInput) as exc:
        open_line(world, order, amount_fen=3981)
    assert exc.value.code == "refund_too_much" and exc.value.status_code == 422
    for bad in (0, -5, True):
        with pytest.raises(InvalidInput):
            open_line(world, order, amount_fen=bad)
    assert case_count(world) == 0


def test_the_refund_cap_is_shown_as_money_is_shown_everywhere(world: World) -> None:
    """Amounts in messages go through ``money.format_fen``: ¥1,234.50, not ¥1234.50."""
    product = make_product(world.db, world.shop, skus=[("金", 123450, 5)])
    order = world.paid([(product.skus[0].id, 1)])
    with pytest.raises(InvalidInput) as exc:
        open_line(world, order, amount_fen=123451)
    assert exc.value.render() == "The refund can be at most ¥1,234.50."


def test_a_refund_over_what_is_left_names_it_as_money(world: World) -> None:
    product = make_product(world.db, world.shop, skus=[("金", 123450, 5)])
    order = world.paid([(product.skus[0].id, 1)])
    case = open_line(world, order)
    payments_service.operator_refund(
        world.db, world.operator_actor, order_no=order.order_no, amount_fen=100, reason="客服"
    )
    world.settle_refunds()
    with pytest.raises(Conflict) as exc:
        cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    assert exc.value.render() == "The refund is more than what can still be refunded (¥1,233.50)."


def test_refund_that_no_longer_fits_at_approval_is_409(world: World) -> None:
    order = world.paid([(world.sku_id, 2)])
    case = open_line(world, order)
    # meanwhile an operator refunded the order in full
    payments_service.operator_refund(
        world.db, world.operator_actor, order_no=order.order_no, amount_fen=3980, reason="客服"
    )
    with pytest.raises(Conflict) as exc:
        cases.approve(world.db, world.staff_actor, world.shop.id, case.id)
    assert exc.value.status_code == 409
    world.db.rollback()
    assert world.db.get(AftersaleCase, case.id).status == "requested"  # nothing half-done


def test_sixth_case_on_a_line_is_409(world: World) -> None:
    order = world.paid()
    for _ in range(5):
        case = open_line(world, order)
        cases.withdraw(world.db, world.buyer_actor, case.id)
    with pytest.raises(Conflict) as exc:
        open_line(world, order)
    assert exc.value.code == "too_many_cases"
    with pytest.raises(Conflict):  # a whole-order case covers that line too
        open_line(world, order, line_id=None)
    assert case_count(world) == 5


def test_one_open_case_per_line(world: World) -> None:
    order = world.paid([(world.sku_id, 1), (world.sku2_id, 1)])
    first, second = order.lines
    open_line(world, order, line_id=first.id)
    with pytest.raises(Conflict) as exc:
        open_line(world, order, line_id=first.id)
    assert exc.value.code == "case_open"
    with pytest.raises(Conflict):
        open_line(world, order, line_id=None)
    open_line(world, order, line_id=second.id)  # another line is fine
    assert case_count(world) == 2


def test_no_reason_window_after_receipt(world: World, clock: Any) -> None:
    order = world.received()
    clock.advance(days=7, hours=1)
    with pytest.raises(Conflict) as exc:
        open_line(world, order, kind="return_refund", reason="no_longer_wanted")
    assert exc.value.code == "window_closed"
    options = cases.case_options(
        world.db, world.buyer_actor, order_no=order.order_no, line_id=order.lines[0].id
    )
    assert "no_longer_wanted" not in options.reasons and "quality" in options.reasons
    # quality problems stay possible for 15 days after receipt
    case = open_line(world, order, kind="return_refund", reason="quality")
    cases.withdraw(world.db, world.buyer_actor, case.id)
    clock.advance(days=8)
    with pytest.raises(Conflict):
        open_line(world, order, kind="return_refund", reason="quality")
    options = cases.case_options(world.db, world.buyer_actor, order_no=order.order_no)
    assert options.blocked is not None


def test_within_the_no_reason_window(world: World, clock: Any) -> None:
    order = world.received()
    clock.advance(days=6, hours=23)
    case = open_line(world, order, kind="return_refund", reason="no_longer_wanted")
    assert case.status == "requested"


def test_product_without_no_reason_returns(world: World) -> None:
    product = make_product(world.db, world.shop, skus=[("定制", 5000, 10)], return_days=0)
    order = world.received([(product.skus[0].id, 1)])
    with pytest.raises(Conflict):
        open_line(world, order, kind="return_refund", reason="wrong_item_ordered")
    assert open_line(world, order, kind="return_refund", reason="missing_items").id


def test_kinds_follow_the_order_status(world: World) -> None:
    pending = world.place()
    with pytest.raises(Conflict):
        open_line(world, pending)
    paid = world.paid()
    for kind in ("return_refund", "exchange"):
        with pytest.raises(Conflict):
            open_line(world, paid, kind=kind)
    shipped = world.ship(paid)
    with pytest.raises(Conflict):
        open_line(world, shipped, kind="exchange")
    assert open_line(world, shipped, kind="return_refund").status == "requested"
    assert cases.case_options(world.db, world.buyer_actor, order_no=shipped.order_no).kinds == [
        "refund_only",
        "return_refund",
    ]


def test_bad_input(world: World) -> None:
    order = world.paid([(world.sku_id, 2)])
    with pytest.raises(InvalidInput):
        open_line(world, order, kind="refund-everything")
    with pytest.raises(InvalidInput):
        open_line(world, order, reason="because")
    for quantity in (0, 3, -1):
        with pytest.raises(InvalidInput):
            open_line(world, order, quantity=quantity)
    with pytest.raises(InvalidInput):
        open_line(world, order, description="长" * 501)
    with pytest.raises(InvalidInput):
        open_line(world, order, photos=[b"x"] * 4)
    with pytest.raises(NotFound):
        open_line(world, order, line_id=999999)
    with pytest.raises(NotFound):
        open_line(world, order, order_no="20990101000000000")
    with pytest.raises(NotAuthenticated):
        cases.open_case(
            world.db,
            ANONYMOUS,
            order_no=order.order_no,
            line_id=None,
            kind="refund_only",
            reason="other",
        )
    assert case_count(world) == 0


def test_other_peoples_orders_and_cases(world: World) -> None:
    order = world.paid()
    stranger = world.actor(world.other_buyer)
    with pytest.raises(NotFound):
        cases.open_case(
            world.db,
            stranger,
            order_no=order.order_no,
            line_id=None,
            kind="refund_only",
            reason="other",
        )
    case = open_line(world, order)
    with pytest.raises(NotFound):
        service.get_my_case(world.db, stranger, case.id)
    with pytest.raises(NotFound):
        cases.withdraw(world.db, stranger, case.id)
    other_shop_owner = world.actor(world.other_owner)
    with pytest.raises(NotFound):  # not their shop
        cases.approve(world.db, other_shop_owner, world.shop.id, case.id)
    with pytest.raises(NotFound):  # their shop, not their case
        cases.approve(world.db, other_shop_owner, world.other_shop.id, case.id)
    with pytest.raises(NotFound):  # the buyer is no merchant
        cases.approve(world.db, world.buyer_actor, world.shop.id, case.id)
    world.db.rollback()
    assert world.db.get(AftersaleCase, case.id).status == "requested"


def test_lists(world: World) -> None:
    first = world.paid()
    second = world.paid()
    a = open_line(world, first)
    b = open_line(world, second)
    mine = service.list_my_cases(world.db, world.buyer_actor)
    assert [c.id for c in mine.cases] == [b.id, a.id]  # newest first
    queue = service.list_shop_cases(world.db, world.staff_actor, world.shop.id)
    assert [c.id for c in queue.cases] == [a.id, b.id]  # oldest first
    assert service.pending_count(world.db, shop_id=world.shop.id) == 2
    assert (
        service.list_shop_cases(world.db, world.staff_actor, world.shop.id, status="refunded").cases
        == []
    )
    with pytest.raises(InvalidInput):
        service.list_shop_cases(world.db, world.staff_actor, world.shop.id, status="nope")
    with pytest.raises(InvalidInput):
        service.list_my_cases(world.db, world.buyer_actor, page=0)
    assert service.list_my_cases(world.db, world.actor(world.other_buyer)).cases == []

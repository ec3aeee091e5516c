from tests.aftersales.conftest import World, stock
from xiaodian.aftersales import service

def test_smoke(world: World) -> None:
    order = world.paid()
    assert order.paid_fen == 3980
    case = service.open_case(world.db, world.buyer_actor, order_no=order.order_no, line_id=None, kind="refund_only", reason="no_longer_wanted")
    assert case.requested_fen == 3980
    service.approve(world.db, world.staff_actor, world.shop.id, case.id)
    assert case.status == "refunding"
    world.settle_refunds()
    world.db.expire_all()
    case = service.get_my_case(world.db, world.buyer_actor, case.id)
    assert case.status == "refunded"
    order = world.refresh(order)
    assert order.status == "closed"
    assert stock(world.db, world.sku_id) == (100, 0, 0, 100)

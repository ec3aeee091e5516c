"""The cart and checkout pages show which coupons apply (and how much each takes off),
which do not and why; the checkout form places the order with the ticked coupons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for, make_address
from xiaodian.campaigns import claims
from xiaodian.campaigns.models import Coupon, CouponStatus
from xiaodian.orders.models import Order


def _csrf(c: Any) -> str:
    return str(c.cookies.get("xd_csrf", ""))


def _claim(scene: Scene, buyer: Any, template_id: int) -> int:
    with scene.database.session() as db:
        coupon, _template = claims.claim(db, actor_for(buyer), template_id)
        return int(coupon.id)


def test_the_pages_explain_the_coupons_and_checkout_uses_the_ticked_ones(
    scene: Scene, make_user: Any, login_client: Any
) -> None:
    fits = scene.template(name="满100减20")
    too_big = scene.template(name="满500减50", off_fen=5000, min_spend_fen=50000)
    buyer = make_user()
    fits_id, big_id = _claim(scene, buyer, fits.id), _claim(scene, buyer, too_big.id)
    with scene.database.session() as db:
        address_id = make_address(db, buyer.id)
    c = login_client(buyer)
    r = c.post(
        "/cart/items",
        data={"sku_id": scene.sku_id, "quantity": 1, "csrf_token": _csrf(c)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text

    cart = c.get("/cart").text
    assert "满100减20" in cart and "−¥20.00" in cart
    # one shop coupon per shop: the second is explained, not applied
    assert "满500减50" in cart and "不可用: 已有同类优惠券生效。" in cart
    assert "¥130.00" in cart  # ¥150 less ¥20

    page = c.get(f"/checkout?sku={scene.sku_id}&qty=1").text
    assert f'name="coupon_id" value="{fits_id}" checked' in page
    assert f'name="coupon_id" value="{big_id}" >' in page  # offered, not ticked
    assert "不可用" in page and "¥130.00" in page

    data = {
        "csrf_token": _csrf(c),
        "form_key": "coupon-page-key-1",
        "from_cart": "0",
        "sku_id": [str(scene.sku_id)],
        "quantity": ["1"],
        "address_id": str(address_id),
        "coupon_id": [str(fits_id), str(big_id)],
    }
    refused = c.post("/checkout", data=data, follow_redirects=False)
    assert refused.status_code == 409 and "已有同类优惠券生效" in refused.text
    with scene.database.session(write=False) as db:
        assert db.scalars(select(Order)).all() == []

    data["coupon_id"] = [str(fits_id)]
    done = c.post("/checkout", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    with scene.database.session(write=False) as db:
        order = db.scalars(select(Order)).one()
        assert (order.total_fen, order.discount_fen) == (13000, 2000)
        assert db.get(Coupon, fits_id).status == CouponStatus.USED
        assert db.get(Coupon, big_id).status == CouponStatus.UNUSED
    bad = c.post(
        "/checkout",
        data={**data, "coupon_id": ["x"], "form_key": "coupon-page-key-2"},
        follow_redirects=False,
    )
    assert bad.status_code == 422

"""The coupons' pages: the merchant writes and stops coupons, the operator writes platform
coupons, a buyer claims one and sees it; a bad form is shown again with nothing written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from xiaodian.campaigns.models import Coupon, CouponTemplate


def _form(client: Any, **fields: str) -> dict[str, str]:
    form = {
        "csrf_token": client.cookies.get("xd_csrf", ""),
        "name": "满100减20",
        "kind": "threshold",
        "level": "shop",
        "off": "20",
        "min_spend": "100",
        "quantity": "50",
        "per_buyer_limit": "1",
        "starts_at": "2026-01-01T00:00",
        "ends_at": "2099-01-01T00:00",
    }
    form.update(fields)
    return form


def _count(scene: Scene, model: Any) -> int:
    with scene.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def test_the_merchant_writes_and_stops_a_coupon(scene: Scene, login_client: Any) -> None:
    owner = login_client(scene.owner)
    url = f"/merchant/shops/{scene.shop_id}/coupons"
    page = owner.get(url)
    assert page.status_code == 200 and 'data-testid="coupon-form"' in page.text
    made = owner.post(url, data=_form(owner), follow_redirects=False)
    assert made.status_code == 303, made.text
    listed = owner.get(url).text
    assert "满100减20" in listed and "0 / 50" in listed
    with scene.database.session(write=False) as db:
        template_id = db.scalar(select(CouponTemplate.id))
    stop = owner.post(
        f"{url}/{template_id}/stop",
        data={"csrf_token": owner.cookies.get("xd_csrf", "")},
        follow_redirects=False,
    )
    assert stop.status_code == 303
    assert 'data-status="stopped"' in owner.get(url).text


def test_a_bad_form_is_shown_again_and_nothing_is_written(scene: Scene, login_client: Any) -> None:
    owner = login_client(scene.owner)
    url = f"/merchant/shops/{scene.shop_id}/coupons"
    for bad in ({"off": "90"}, {"quantity": "many"}, {"off": "abc"}, {"starts_at": "soon"}):
        again = owner.post(url, data=_form(owner, **bad), follow_redirects=False)
        assert again.status_code == 422, (bad, again.status_code)
        assert 'role="alert"' in again.text
    assert _count(scene, CouponTemplate) == 0


def test_strangers_see_no_shop_coupons(scene: Scene, login_client: Any, make_user: Any) -> None:
    stranger = login_client(make_user())
    url = f"/merchant/shops/{scene.shop_id}/coupons"
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, data=_form(stranger)).status_code == 404
    assert stranger.get("/ops/coupons").status_code == 403
    assert _count(scene, CouponTemplate) == 0


def test_operator_coupon_claimed_by_a_buyer(
    scene: Scene, login_client: Any, make_user: Any
) -> None:
    operator = login_client(make_user(operator=True))
    made = operator.post(
        "/ops/coupons",
        data=_form(operator, name="平台无门槛5元", kind="no_threshold", off="5", min_spend=""),
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    buyer = login_client(make_user())
    page = buyer.get("/me/coupons")
    assert "平台无门槛5元" in page.text
    with scene.database.session(write=False) as db:
        template_id = db.scalar(select(CouponTemplate.id))
    csrf = {"csrf_token": buyer.cookies.get("xd_csrf", "")}
    claimed = buyer.post(f"/coupons/{template_id}/claim", data=csrf, follow_redirects=False)
    assert claimed.status_code == 303
    assert 'data-usable="1"' in buyer.get("/me/coupons").text
    again = buyer.post(f"/coupons/{template_id}/claim", data=csrf, follow_redirects=False)
    assert again.status_code == 409
    assert buyer.post("/coupons/2147483647/claim", data=csrf).status_code == 404
    assert _count(scene, Coupon) == 1

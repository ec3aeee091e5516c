"""Claiming coupons through the service and the API: limits, windows, budgets, and bad
input that writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.campaigns.conftest import Scene
from tests.factories import actor_for
from xiaodian import clock as clock_module
from xiaodian.campaigns import claims
from xiaodian.campaigns.models import Coupon, CouponClaimer, CouponTemplate
from xiaodian.errors import Conflict, IllegalTransition, NotFound


def _counts(scene: Scene) -> tuple[int, int, int]:
    with scene.database.session(write=False) as db:
        return (
            db.scalar(select(func.count()).select_from(Coupon)) or 0,
            db.scalar(select(func.coalesce(func.sum(CouponClaimer.claimed), 0))) or 0,
            db.scalar(select(func.coalesce(func.sum(CouponTemplate.issued), 0))) or 0,
        )


def _claim(scene: Scene, buyer: Any, template_id: int) -> Any:
    with scene.database.session() as db:
        return claims.claim(db, actor_for(buyer), template_id)


def test_a_buyer_claims_up_to_the_limit(scene: Scene, make_user: Any, clock: Any) -> None:
    template = scene.template(per_buyer_limit=2, valid_days=3)
    buyer = make_user()
    coupon, counted = _claim(scene, buyer, template.id)
    assert coupon.expires_at == clock.now() + timedelta(days=3)
    assert counted.issued == 1
    _claim(scene, buyer, template.id)
    with pytest.raises(Conflict) as refused:
        _claim(scene, buyer, template.id)
    assert refused.value.code == "claim_limit"
    assert _counts(scene) == (2, 2, 2)


def test_the_last_coupon_goes_and_then_none(scene: Scene, make_user: Any) -> None:
    template = scene.template(quantity=1)
    _claim(scene, make_user(), template.id)
    with pytest.raises(Conflict) as refused:
        _claim(scene, make_user(), template.id)
    assert refused.value.code == "coupons_gone"
    assert _counts(scene) == (1, 1, 1)


def test_a_budget_stops_issuing_exactly_at_the_budget(scene: Scene, make_user: Any) -> None:
    # each coupon counts its most value (¥20): a ¥50 budget issues two, not three
    template = scene.template(quantity=10, budget_fen=5000)
    _claim(scene, make_user(), template.id)
    _claim(scene, make_user(), template.id)
    with pytest.raises(Conflict) as refused:
        _claim(scene, make_user(), template.id)
    assert refused.value.code == "budget_spent"
    with scene.database.session(write=False) as db:
        row = db.get(CouponTemplate, template.id)
        assert row is not None and (row.issued, row.committed_fen) == (2, 4000)


def test_the_window_and_stopping(scene: Scene, make_user: Any, clock: Any) -> None:
    later = scene.template(starts_at=clock.now() + timedelta(hours=1))
    buyer = make_user()
    with pytest.raises(IllegalTransition):
        _claim(scene, buyer, later.id)
    clock.advance(timedelta(hours=2))
    _claim(scene, buyer, later.id)  # open now
    from xiaodian.campaigns import templates

    with scene.database.session() as db:
        templates.stop_template(db, scene.merchant, later.id)
    with pytest.raises(IllegalTransition):
        _claim(scene, make_user(), later.id)
    with pytest.raises(NotFound):
        _claim(scene, buyer, 999_999)
    assert _counts(scene) == (1, 1, 1)


def test_claim_over_http(scene: Scene, make_user: Any, api_client: Any) -> None:
    template = scene.template()
    buyer = api_client(make_user())
    got = buyer.post(f"/api/v1/coupons/{template.id}/claim")
    assert got.status_code == 201, got.text
    assert got.json()["template"]["issued"] == 1
    assert buyer.post(f"/api/v1/coupons/{template.id}/claim").status_code == 409
    assert buyer.post("/api/v1/coupons/2147483647/claim").status_code == 404
    assert buyer.post("/api/v1/coupons/0/claim").status_code == 404
    assert buyer.post("/api/v1/coupons/abc/claim").status_code == 422
    mine = buyer.get("/api/v1/me/coupons?usable=true").json()
    assert [c["template_id"] for c in mine] == [template.id]
    listed = buyer.get(f"/api/v1/shops/{scene.shop_id}/coupons").json()
    assert [t["id"] for t in listed] == [template.id]
    assert _counts(scene) == (1, 1, 1)


def test_claims_after_the_last_one_are_answered_before_the_app(
    scene: Scene, make_user: Any, api_client: Any, client: Any, app_saw: list[str]
) -> None:
    """Once the last coupon went, a bearer claim gets the route's own 409 from the fast
    path (``campaigns.fastpath``: no route, no middleware); an unknown token still gets the
    401 first; a template not used up goes through the app."""
    template, other = scene.template(quantity=1), scene.template(quantity=5)
    assert api_client(make_user()).post(f"/api/v1/coupons/{template.id}/claim").status_code == 201
    late = api_client(make_user())
    through_app = late.post(f"/api/v1/coupons/{template.id}/claim")  # learns it is used up
    assert through_app.status_code == 409
    claim_path = f"/api/v1/coupons/{template.id}/claim"
    assert app_saw.count(claim_path) == 2
    fast = late.post(f"/api/v1/coupons/{template.id}/claim", headers={"Accept-Language": "zh"})
    assert fast.status_code == 409, fast.text
    assert app_saw.count(claim_path) == 2  # answered before the app
    assert fast.headers["x-content-type-options"] == "nosniff"
    assert fast.json()["error"]["code"] == "coupons_gone"
    assert fast.json()["error"]["message"] == "优惠券已被领完。", fast.json()
    forged = client.post(
        f"/api/v1/coupons/{template.id}/claim", headers={"Authorization": "Bearer forged"}
    )
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "not_authenticated"
    assert late.post(f"/api/v1/coupons/{other.id}/claim").status_code == 201
    assert _counts(scene) == (2, 2, 2)


def test_signed_out_claims_nothing(scene: Scene, client: Any) -> None:
    template = scene.template()
    assert client.post(f"/api/v1/coupons/{template.id}/claim").status_code in (401, 403)
    assert _counts(scene) == (0, 0, 0)


def test_used_up_templates_are_refused_without_a_transaction(
    scene: Scene, make_user: Any, count_queries: Any
) -> None:
    template = scene.template(quantity=1)
    _claim(scene, make_user(), template.id)
    late = make_user()
    with pytest.raises(Conflict):
        _claim(scene, late, template.id)
    with count_queries() as counter, pytest.raises(Conflict):
        _claim(scene, late, template.id)
    assert counter.count == 0, counter.statements


def test_expiry_moves_with_the_clock(scene: Scene, make_user: Any, clock: Any) -> None:
    template = scene.template()
    buyer = make_user()
    _claim(scene, buyer, template.id)
    from xiaodian.campaigns import service

    with scene.database.session(write=False) as db:
        assert len(service.my_coupons(db, actor_for(buyer), usable_only=True)) == 1
    clock.advance(timedelta(days=8))
    with scene.database.session(write=False) as db:
        assert service.my_coupons(db, actor_for(buyer), usable_only=True) == []
        assert len(service.my_coupons(db, actor_for(buyer))) == 1
    assert isinstance(clock, clock_module.FrozenClock)


def test_a_claim_is_four_statements(scene: Scene, make_user: Any, count_queries: Any) -> None:
    """The template's read, the buyer's count, the coupon, the template's conditional
    UPDATE: however many coupons were claimed before."""
    template = scene.template(per_buyer_limit=3)
    buyer = make_user()
    _claim(scene, buyer, template.id)
    with count_queries() as counter:
        _claim(scene, buyer, template.id)
    assert counter.count == 4, counter.statements
    assert "UPDATE coupon_templates" in counter.statements[-1]

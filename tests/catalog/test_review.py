"""The product status machine, screening, and the operators' review (service, API, pages)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.catalog.conftest import Scene, png_bytes
from tests.factories import leaf_category
from xiaodian.actor import ANONYMOUS
from xiaodian.catalog import images, products, review, screening, service, states
from xiaodian.catalog.models import ProductEvent, ProductStatus
from xiaodian.catalog.products import SkuEdit
from xiaodian.errors import IllegalTransition, InvalidInput, NotAuthenticated, PermissionDenied

S = ProductStatus


def _ready(
    db: Any, scene: Scene, title: str = "明前西湖龙井 250g 罐装", description: str = ""
) -> Any:
    actor = scene.actor(scene.staff)
    product = products.create_product(
        db,
        actor,
        scene.shop.id,
        title=title,
        description=description,
        category_id=leaf_category(db, "tea").id,
        price_fen=26800,
        stock=5,
    )
    images.add_images(db, actor, scene.shop.id, product.id, [png_bytes()])
    return product


def _events(db: Any, product_id: int) -> list[tuple[str | None, str]]:
    rows = db.scalars(
        select(ProductEvent).where(ProductEvent.product_id == product_id).order_by(ProductEvent.id)
    )
    return [(e.from_status, e.to_status) for e in rows]


def test_every_legal_transition_writes_an_event(db: Any, scene: Scene, clock: Any) -> None:
    product = _ready(db, scene)
    staff, ops = scene.actor(scene.staff), scene.actor(scene.operator)
    sid, pid = scene.shop.id, product.id
    states.submit(db, staff, sid, pid)
    assert product.status == S.UNDER_REVIEW and product.submitted_at == clock.now()
    states.change_status(db, staff, sid, pid, "withdraw")
    assert product.status == S.DRAFT
    states.submit(db, staff, sid, pid)
    review.reject(db, ops, pid, "标题与图片不符")
    assert product.status == S.REJECTED and product.reject_reason == "标题与图片不符"
    states.submit(db, staff, sid, pid)  # resubmit after a rejection
    assert product.reject_reason is None
    clock.advance(hours=1)
    review.approve(db, ops, pid)
    assert product.status == S.ON_SALE and product.published_at == clock.now()
    states.change_status(db, staff, sid, pid, "take_off_shelf")
    assert product.status == S.OFF_SHELF
    states.change_status(db, staff, sid, pid, "put_on_shelf")
    assert product.status == S.ON_SALE
    assert _events(db, pid) == [
        (None, "draft"),
        ("draft", "under_review"),
        ("under_review", "draft"),
        ("draft", "under_review"),
        ("under_review", "rejected"),
        ("rejected", "under_review"),
        ("under_review", "on_sale"),
        ("on_sale", "off_shelf"),
        ("off_shelf", "on_sale"),
    ]
    rejected = db.scalar(select(ProductEvent).where(ProductEvent.to_status == "rejected"))
    assert rejected.actor_id == scene.operator.id and rejected.note == "标题与图片不符"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.DRAFT, "put_on_shelf"),
        (S.DRAFT, "take_off_shelf"),
        (S.DRAFT, "withdraw"),
        (S.UNDER_REVIEW, "submit"),
        (S.UNDER_REVIEW, "put_on_shelf"),
        (S.ON_SALE, "submit"),
        (S.ON_SALE, "put_on_shelf"),
        (S.OFF_SHELF, "take_off_shelf"),
        (S.REJECTED, "put_on_shelf"),
    ],
)
def test_illegal_merchant_transitions(
    db: Any, scene: Scene, status: ProductStatus, action: str
) -> None:
    product = _ready(db, scene)
    product.status = status
    db.commit()
    with pytest.raises(IllegalTransition):
        states.change_status(db, scene.actor(scene.staff), scene.shop.id, product.id, action)
    db.rollback()
    assert service.get_product(db, product.id).status == status


@pytest.mark.parametrize("status", [S.DRAFT, S.ON_SALE, S.OFF_SHELF, S.REJECTED])
def test_operator_decides_only_under_review(db: Any, scene: Scene, status: ProductStatus) -> None:
    product = _ready(db, scene)
    product.status = status
    db.commit()
    ops = scene.actor(scene.operator)
    with pytest.raises(IllegalTransition):
        review.approve(db, ops, product.id)
    with pytest.raises(IllegalTransition):
        review.reject(db, ops, product.id, "不行")


def test_submit_needs_an_image_and_an_active_sku(db: Any, scene: Scene) -> None:
    staff = scene.actor(scene.staff)
    product = products.create_product(
        db, staff, scene.shop.id, title="无图商品", category_id=leaf_category(db).id, price_fen=100
    )
    with pytest.raises(InvalidInput) as err:
        states.submit(db, staff, scene.shop.id, product.id)
    assert err.value.code == "image_required"
    db.rollback()
    # no stock is fine: review is about the listing, not the warehouse
    products.update_skus(db, staff, scene.shop.id, product.id, [SkuEdit("", 100, stock=0)])
    images.add_images(db, staff, scene.shop.id, product.id, [png_bytes()])
    states.submit(db, staff, scene.shop.id, product.id)
    assert product.status == S.UNDER_REVIEW


def test_reject_needs_a_reason_and_an_operator(db: Any, scene: Scene) -> None:
    product = _ready(db, scene)
    states.submit(db, scene.actor(scene.staff), scene.shop.id, product.id)
    with pytest.raises(InvalidInput):
        review.reject(db, scene.actor(scene.operator), product.id, "   ")
    for user in (scene.owner, scene.staff, scene.buyer):
        with pytest.raises(PermissionDenied):
            review.approve(db, scene.actor(user), product.id)
        with pytest.raises(PermissionDenied):
            review.review_queue(db, scene.actor(user))
    with pytest.raises(NotAuthenticated):
        review.review_queue(db, ANONYMOUS)


def test_editing_a_listed_product_sends_it_back_to_review(db: Any, scene: Scene) -> None:
    product = _ready(db, scene)
    staff, sid, pid = scene.actor(scene.staff), scene.shop.id, product.id
    states.submit(db, staff, sid, pid)
    review.approve(db, scene.actor(scene.operator), pid)
    # price and stock edits: no review
    products.update_skus(db, staff, sid, pid, [SkuEdit("", 19900, stock=50)])
    products.update_product(db, staff, sid, pid, {"purchase_limit": 2, "return_days": 0})
    assert product.status == S.ON_SALE
    # the title is reviewed content
    products.update_product(db, staff, sid, pid, {"title": "特级明前龙井 绝对正宗"})
    assert product.status == S.UNDER_REVIEW
    assert product.screening_hits == ["绝对"]
    assert _events(db, pid)[-1] == ("on_sale", "under_review")
    # off the shelf, then a new image: back to review as well
    review.approve(db, scene.actor(scene.operator), pid)
    states.change_status(db, staff, sid, pid, "take_off_shelf")
    images.add_images(db, staff, sid, pid, [png_bytes((1, 2, 3))])
    assert product.status == S.UNDER_REVIEW


def test_screening_builtin_and_configured_words(db: Any, scene: Scene, settings: Any) -> None:
    assert screening.find_hits("全网最低价 国家级工艺", "100%有效，假一赔十") == [
        "最低价",
        "国家级",
        "100%有效",
        "假一赔十",
    ]
    assert screening.find_hits("春季新款连衣裙") == []
    settings.prohibited_words = " 秒杀 , ,Miracle"
    assert screening.find_hits("限时秒杀 a MIRACLE cream") == ["秒杀", "Miracle"]
    product = _ready(db, scene, title="限时秒杀 顶级红茶", description="喝了能治愈失眠")
    states.submit(db, scene.actor(scene.staff), scene.shop.id, product.id)
    assert product.screening_hits == ["秒杀", "顶级", "治愈"]
    assert screening.segments("喝了能治愈失眠", ["治愈"]) == [
        ("喝了能", False),
        ("治愈", True),
        ("失眠", False),
    ]


def test_review_queue_oldest_first(db: Any, scene: Scene, clock: Any) -> None:
    staff = scene.actor(scene.staff)
    first, second = _ready(db, scene, title="先提交"), _ready(db, scene, title="后提交")
    states.submit(db, staff, scene.shop.id, second.id)
    clock.advance(timedelta(minutes=5))
    states.submit(db, staff, scene.shop.id, first.id)
    queue = review.review_queue(db, scene.actor(scene.operator))
    assert [p.id for p in queue] == [second.id, first.id]


def test_review_api(db: Any, scene: Scene, api_client: Any) -> None:
    product = _ready(db, scene, title="顶级大红袍")
    states.submit(db, scene.actor(scene.staff), scene.shop.id, product.id)
    ops = api_client(scene.operator)
    r = ops.get("/api/v1/ops/products", params={"status": "under_review"})
    assert r.status_code == 200
    assert [(p["id"], p["screening_hits"]) for p in r.json()] == [(product.id, ["顶级"])]
    r = ops.post(f"/api/v1/ops/products/{product.id}/reject", json={"reason": ""})
    assert r.status_code == 422 and r.json()["error"]["code"] == "reason_required"
    r = ops.post(f"/api/v1/ops/products/{product.id}/reject", json={"reason": "请删除“顶级”"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = ops.post(f"/api/v1/ops/products/{product.id}/approve")
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    r = ops.post("/api/v1/ops/products/999999/approve")
    assert r.status_code == 404
    r = ops.get("/api/v1/ops/products", params={"status": "nonsense"})
    assert r.status_code == 422
    for user in (scene.owner, scene.staff, scene.buyer, scene.other_owner):
        c = api_client(user)
        assert c.get("/api/v1/ops/products").status_code == 403
        assert c.post(f"/api/v1/ops/products/{product.id}/approve").status_code == 403
        assert (
            c.post(f"/api/v1/ops/products/{product.id}/reject", json={"reason": "x"}).status_code
            == 403
        )
    assert ops.get(f"/api/v1/ops/products/{product.id}").json()["reject_reason"] == "请删除“顶级”"


def test_review_pages(db: Any, scene: Scene, login_client: Any) -> None:
    product = _ready(db, scene, title="顶级大红袍", description="本品可治愈百病")
    states.submit(db, scene.actor(scene.staff), scene.shop.id, product.id)
    c = login_client(scene.operator)
    page = c.get("/ops/products/review")
    assert page.status_code == 200
    assert f"/ops/products/{product.id}" in page.text and "<mark>顶级</mark>" in page.text
    detail = c.get(f"/ops/products/{product.id}")
    assert detail.status_code == 200
    assert "<mark>顶级</mark>大红袍" in detail.text and "<mark>治愈</mark>" in detail.text
    csrf = c.cookies.get("xd_csrf")
    r = c.post(f"/ops/products/{product.id}/reject", data={"reason": "", "csrf_token": csrf})
    assert r.status_code == 422 and 'role="alert"' in r.text
    r = c.post(
        f"/ops/products/{product.id}/approve",
        data={"note": "", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.expire_all()
    assert service.get_product(db, product.id).status == S.ON_SALE
    db.rollback()  # end the read: SQLite's write sessions hold the lock
    buyer = login_client(scene.buyer)
    assert buyer.get("/ops/products/review").status_code == 403
    assert buyer.get(f"/ops/products/{product.id}").status_code == 403

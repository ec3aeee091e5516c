"""Products as SPU + SKUs: creation, spec regeneration, SKU edits, images, min price."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.catalog.conftest import Scene, png_bytes
from tests.factories import leaf_category
from xiaodian.catalog import images, products, service
from xiaodian.catalog.models import ProductEvent, ProductStatus, Sku, StockMovement
from xiaodian.catalog.products import SkuEdit, SpecAxis
from xiaodian.categories.models import Category
from xiaodian.errors import Conflict, InvalidInput, NotFound

COLOR = SpecAxis("颜色", ["红", "蓝"])
SIZE = SpecAxis("尺码", ["S", "M", "L"])


def _new(db: Any, scene: Scene, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "title": "夏季碎花连衣裙",
        "category_id": leaf_category(db, "dresses").id,
        "price_fen": 15900,
        "stock": 10,
    }
    args.update(kw)
    return products.create_product(db, scene.actor(scene.staff), scene.shop.id, **args)


def test_contract_reads(db: Any, scene: Scene) -> None:
    product = _new(db, scene)
    assert service.get_product(db, product.id).status == ProductStatus.DRAFT  # any status
    with pytest.raises(NotFound):
        service.get_product(db, 999_999)


def test_create_generates_cartesian_skus(db: Any, scene: Scene) -> None:
    product = _new(db, scene, specs=[COLOR, SIZE], list_price_fen=19900)
    assert [s.spec_key for s in product.skus] == ["红/S", "红/M", "红/L", "蓝/S", "蓝/M", "蓝/L"]
    assert product.skus[1].spec_values == {"颜色": "红", "尺码": "M"}
    assert all(s.price_fen == 15900 and s.stock_on_hand == 10 for s in product.skus)
    assert all(s.stock_received == 10 for s in product.skus)
    assert product.min_price_fen == 15900
    assert product.status == ProductStatus.DRAFT
    moves = db.scalars(select(StockMovement)).all()
    assert len(moves) == 6 and {m.reason for m in moves} == {"Initial stock"}
    event = db.scalar(select(ProductEvent).where(ProductEvent.product_id == product.id))
    assert event.to_status == "draft" and event.actor_id == scene.staff.id


def test_product_without_specs_has_one_default_sku(db: Any, scene: Scene) -> None:
    product = _new(db, scene)
    assert [(s.spec_key, s.spec_values) for s in product.skus] == [("", {})]


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"title": ""}, "title_required"),
        ({"title": "长" * 61}, "title_too_long"),
        ({"price_fen": 0}, "price_invalid"),
        ({"list_price_fen": 100}, "list_price_invalid"),
        ({"stock": -1}, "stock_invalid"),
        ({"return_days": -1}, "return_days_invalid"),
        ({"purchase_limit": 0}, "purchase_limit_invalid"),
        ({"specs": [SpecAxis("颜色", [])]}, "spec_values_required"),
        ({"specs": [SpecAxis("", ["红"])]}, "spec_name_required"),
        ({"specs": [COLOR, SpecAxis("颜色", ["绿"])]}, "spec_duplicate"),
        ({"specs": [SpecAxis("颜色", ["红/蓝"])]}, "spec_value_invalid"),
        ({"specs": [SpecAxis(f"s{i}", ["a"]) for i in range(4)]}, "spec_too_many"),
        ({"specs": [SpecAxis("n", [str(i) for i in range(21)])]}, "spec_too_many_values"),
    ],
)
def test_create_rejects_bad_input(db: Any, scene: Scene, kw: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _new(db, scene, **kw)
    assert err.value.code == code
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Sku)) == 0


def test_category_must_be_second_level(db: Any, scene: Scene) -> None:
    top = db.scalar(select(Category).where(Category.parent_id.is_(None)))
    with pytest.raises(InvalidInput) as err:
        _new(db, scene, category_id=top.id)
    assert err.value.code == "category_not_leaf"


def test_regenerating_specs_keeps_existing_and_deactivates_the_rest(db: Any, scene: Scene) -> None:
    product = _new(db, scene, specs=[COLOR, SIZE])
    actor = scene.actor(scene.owner)
    edits = [
        SkuEdit(spec_key=s.spec_key, price_fen=15900 + i * 100, code=f"D-{i}", stock=i)
        for i, s in enumerate(product.skus)
    ]
    products.update_skus(db, actor, scene.shop.id, product.id, edits)
    ids = {s.spec_key: s.id for s in product.skus}
    # drop 蓝, add 黑; drop S, add XL
    product = products.set_specs(
        db,
        actor,
        scene.shop.id,
        product.id,
        [SpecAxis("颜色", ["红", "黑"]), SpecAxis("尺码", ["M", "L", "XL"])],
    )
    by_key = {s.spec_key: s for s in product.skus}
    active = sorted(k for k, s in by_key.items() if s.is_active)
    assert active == sorted(["红/M", "红/L", "红/XL", "黑/M", "黑/L", "黑/XL"])
    assert by_key["红/M"].id == ids["红/M"]  # kept, with its price, stock and code
    assert (by_key["红/M"].price_fen, by_key["红/M"].stock_on_hand, by_key["红/M"].code) == (
        16000,
        1,
        "D-1",
    )
    for gone in ("红/S", "蓝/S", "蓝/M", "蓝/L"):
        assert by_key[gone].is_active is False  # deactivated, not deleted
    # a new combination copies the price of the most similar SKU, with no stock or code
    assert by_key["红/XL"].price_fen == 15900 and by_key["红/XL"].stock_on_hand == 0
    assert by_key["红/XL"].code == ""
    assert product.min_price_fen == min(s.price_fen for s in product.skus if s.is_active)
    # bringing 蓝 back reactivates the very same rows
    product = products.set_specs(db, actor, scene.shop.id, product.id, [COLOR, SIZE])
    by_key = {s.spec_key: s for s in product.skus}
    assert by_key["蓝/L"].id == ids["蓝/L"] and by_key["蓝/L"].is_active
    assert by_key["黑/M"].is_active is False


def test_min_price_follows_active_skus(db: Any, scene: Scene) -> None:
    product = _new(db, scene, specs=[SIZE])
    actor = scene.actor(scene.owner)
    products.update_skus(
        db,
        actor,
        scene.shop.id,
        product.id,
        [
            SkuEdit("S", 9900, is_active=False),
            SkuEdit("M", 12900),
            SkuEdit("L", 13900, list_price_fen=19900),
        ],
    )
    assert product.min_price_fen == 12900
    with pytest.raises(InvalidInput) as err:
        products.update_skus(
            db,
            actor,
            scene.shop.id,
            product.id,
            [SkuEdit(k, 100, is_active=False) for k in ("S", "M", "L")],
        )
    assert err.value.code == "no_active_sku"
    db.rollback()
    assert service.get_product(db, product.id).min_price_fen == 12900


def test_sku_edit_validation(db: Any, scene: Scene) -> None:
    product = _new(db, scene, specs=[SIZE])
    actor = scene.actor(scene.owner)
    cases = [
        ([SkuEdit("XXL", 100)], "sku_unknown"),
        ([SkuEdit("S", 0)], "price_invalid"),
        ([SkuEdit("S", 1000, list_price_fen=999)], "list_price_invalid"),
        ([SkuEdit("S", 1000, stock=-5)], "stock_invalid"),
        ([SkuEdit("S", 1000, code="A"), SkuEdit("M", 1000, code="A")], "sku_code_taken"),
    ]
    for edits, code in cases:
        with pytest.raises((InvalidInput, Conflict)) as err:
            products.update_skus(db, actor, scene.shop.id, product.id, edits)
        assert err.value.code == code
        db.rollback()


def test_sku_code_unique_within_shop_only(db: Any, scene: Scene) -> None:
    first = _new(db, scene)
    second = _new(db, scene, title="另一件")
    actor = scene.actor(scene.owner)
    products.update_skus(db, actor, scene.shop.id, first.id, [SkuEdit("", 1000, code="X-1")])
    with pytest.raises(Conflict):
        products.update_skus(db, actor, scene.shop.id, second.id, [SkuEdit("", 1000, code="X-1")])
    db.rollback()
    other = products.create_product(
        db,
        scene.actor(scene.other_owner),
        scene.other_shop.id,
        title="别家的商品",
        category_id=leaf_category(db).id,
        price_fen=500,
    )
    products.update_skus(
        db,
        scene.actor(scene.other_owner),
        scene.other_shop.id,
        other.id,
        [SkuEdit("", 500, code="X-1")],
    )


def test_images_cover_reorder_delete(db: Any, scene: Scene, settings: Any) -> None:
    product = _new(db, scene)
    actor = scene.actor(scene.staff)
    images.add_images(db, actor, scene.shop.id, product.id, [png_bytes(), png_bytes((0, 0, 200))])
    first, second = product.images
    assert product.cover_path == first.path
    assert (settings.media_dir / first.path).is_file()
    images.reorder_images(db, actor, scene.shop.id, product.id, [second.id, first.id])
    assert product.cover_path == second.path
    assert [i.position for i in product.images] == [0, 1]
    with pytest.raises(InvalidInput):
        images.reorder_images(db, actor, scene.shop.id, product.id, [second.id])
    db.rollback()
    images.delete_image(db, actor, scene.shop.id, product.id, second.id)
    assert product.cover_path == first.path
    images.delete_image(db, actor, scene.shop.id, product.id, first.id)
    assert product.cover_path is None
    with pytest.raises(InvalidInput) as err:
        images.add_images(db, actor, scene.shop.id, product.id, [png_bytes()] * 10)
    assert err.value.code == "too_many_images"


def test_bad_image_in_a_batch_writes_nothing(db: Any, scene: Scene, settings: Any) -> None:
    product = _new(db, scene)
    with pytest.raises(InvalidInput):
        images.add_images(
            db, scene.actor(scene.staff), scene.shop.id, product.id, [png_bytes(), b"not an image"]
        )
    db.rollback()
    assert service.get_product(db, product.id).images == []
    assert not [p for p in settings.media_dir.rglob("*") if p.is_file()]


def test_strangers_see_not_found(db: Any, scene: Scene) -> None:
    product = _new(db, scene)
    for user in (scene.other_owner, scene.other_staff, scene.buyer, scene.operator):
        actor = scene.actor(user)
        with pytest.raises(NotFound):
            service.shop_product(db, actor, scene.shop.id, product.id)
        with pytest.raises(NotFound):
            products.update_product(db, actor, scene.shop.id, product.id, {"title": "x"})
    # the right shop id with another shop's product is not found either
    with pytest.raises(NotFound):
        service.shop_product(db, scene.actor(scene.other_owner), scene.other_shop.id, product.id)

"""Buyer reviews: who may write one and when, the figures kept per product and shop,
follow-ups, the merchant's one reply, helpful votes, and bad input that writes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.reviews.conftest import World, png
from xiaodian.errors import Conflict, InvalidInput, NotFound
from xiaodian.reviews import browse, figures, service, writing
from xiaodian.reviews.models import ProductReviewFigures, Review, ReviewItem, ShopReviewFigures


def lines_of(order: Any, stars: int = 5, text: str = "很好", photos: int = 0) -> list[Any]:
    return [writing.LineReview(line.id, stars, text, [png()] * photos) for line in order.lines]


def review(w: World, order: Any, **kw: Any) -> Review:
    kw.setdefault("lines", lines_of(order))
    kw.setdefault("service_stars", 5)
    kw.setdefault("logistics_stars", 4)
    return writing.create_review(w.db, w.buyer_actor, order.order_no, **kw)


def counts(w: World) -> tuple[int, int, int]:
    w.db.rollback()
    return (
        w.db.scalar(select(func.count()).select_from(Review)) or 0,
        w.db.scalar(select(func.count()).select_from(ReviewItem)) or 0,
        w.db.scalar(select(func.count()).select_from(ProductReviewFigures)) or 0,
    )


def stored_photos(settings: Any) -> list[Path]:
    root = Path(settings.media_dir) / "reviews"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_buyer_reviews_a_completed_order_and_the_figures_follow(
    world: World, settings: Any
) -> None:
    order = world.received([(world.sku_id, 1), (world.sku2_id, 1)])
    done = review(
        world,
        order,
        lines=[
            writing.LineReview(order.lines[0].id, 5, "质量很好", [png(), png()]),
            writing.LineReview(order.lines[1].id, 2, "颜色不对"),
        ],
    )
    assert [i.stars for i in done.items] == [5, 2]
    assert done.author_name.endswith("**")
    world.db.rollback()
    product = service.product_figures(world.db, product_id=world.product.id)
    assert (product.review_count, product.star_sum, product.photo_count) == (2, 7, 1)
    assert product.average == 3.5
    shop = service.shop_figures(world.db, shop_id=world.shop_id)
    assert (shop.review_count, shop.service_star_sum, shop.logistics_star_sum) == (1, 5, 4)
    assert (shop.item_count, shop.product_star_sum) == (2, 7)
    assert len(stored_photos(settings)) == 4  # two photos, each with its thumbnail
    assert figures.check_figures(world.db) == []


def test_anonymous_reviews_hide_the_name(world: World) -> None:
    done = review(world, world.received(), anonymous=True)
    assert done.author_name == service.ANONYMOUS_NAME and done.anonymous


def test_prohibited_words_are_found_and_masked(world: World) -> None:
    order = world.received()
    done = review(world, order, lines=lines_of(order, text="全网第一好用"))
    item = done.items[0]
    assert item.hits == ["全网第一"]
    assert service.masked(item.text, item.hits) == "＊＊＊＊好用"


@pytest.mark.parametrize("stage", ["paid", "shipped"])
def test_an_order_not_completed_cannot_be_reviewed(world: World, stage: str) -> None:
    order = world.paid() if stage == "paid" else world.shipped()
    with pytest.raises(Conflict) as info:
        review(world, order)
    assert info.value.code == "order_not_completed"
    assert counts(world) == (0, 0, 0)


def test_another_buyers_order_is_not_found(world: World) -> None:
    order = world.received()
    other = world.actor(world.other_buyer)
    with pytest.raises(NotFound):
        writing.create_review(
            world.db,
            other,
            order.order_no,
            lines=lines_of(order),
            service_stars=5,
            logistics_stars=5,
        )
    assert counts(world) == (0, 0, 0)


@pytest.mark.parametrize("bad", [0, 6, -1, True, "5"])
def test_stars_outside_one_to_five_are_refused(world: World, bad: Any) -> None:
    order = world.received()
    with pytest.raises(InvalidInput):
        review(world, order, lines=lines_of(order, stars=bad))
    with pytest.raises(InvalidInput):
        review(world, order, service_stars=bad)
    with pytest.raises(InvalidInput):
        review(world, order, logistics_stars=bad)
    assert counts(world) == (0, 0, 0)


def test_ten_photos_are_refused_and_no_file_is_kept(world: World, settings: Any) -> None:
    order = world.received()
    with pytest.raises(InvalidInput) as info:
        review(world, order, lines=lines_of(order, photos=10))
    assert info.value.code == "too_many_photos"
    assert counts(world) == (0, 0, 0) and stored_photos(settings) == []
    review(world, order, lines=lines_of(order, photos=9))  # nine are fine
    assert len(stored_photos(settings)) == 18


def test_a_bad_upload_keeps_no_photo_of_the_review(world: World, settings: Any) -> None:
    order = world.received()
    line = order.lines[0]
    with pytest.raises(InvalidInput):
        review(world, order, lines=[writing.LineReview(line.id, 5, "", [png(), b"not an image"])])
    assert counts(world) == (0, 0, 0) and stored_photos(settings) == []


def test_every_line_once(world: World) -> None:
    order = world.received([(world.sku_id, 1), (world.sku2_id, 1)])
    with pytest.raises(InvalidInput):
        review(world, order, lines=lines_of(order)[:1])
    with pytest.raises(NotFound):
        review(world, order, lines=[*lines_of(order), writing.LineReview(10**6, 5)])
    assert counts(world) == (0, 0, 0)


def test_one_review_per_order_within_fifteen_days(world: World, clock: Any) -> None:
    order = world.received()
    clock.advance(timedelta(days=15, seconds=1))
    with pytest.raises(Conflict) as info:
        review(world, order)
    assert info.value.code == "review_window_closed"
    order2 = world.received()
    clock.advance(timedelta(days=14))
    review(world, order2)
    with pytest.raises(Conflict) as info:
        review(world, order2)
    assert info.value.code == "already_reviewed"
    assert counts(world) == (1, 1, 1)


def test_one_follow_up_within_ninety_days(world: World, clock: Any) -> None:
    order = world.received()
    item = review(world, order).items[0]
    with pytest.raises(NotFound):
        writing.add_follow_up(world.db, world.actor(world.other_buyer), item.id, text="追评")
    with pytest.raises(InvalidInput):
        writing.add_follow_up(world.db, world.buyer_actor, item.id, text="  ")
    clock.advance(timedelta(days=30))
    after = writing.add_follow_up(
        world.db, world.buyer_actor, item.id, text="用了一个月还不错", photos=[png()]
    )
    assert after.follow_up_text == "用了一个月还不错" and after.has_photos
    with pytest.raises(Conflict) as info:
        writing.add_follow_up(world.db, world.buyer_actor, item.id, text="再追")
    assert info.value.code == "follow_up_exists"
    world.db.rollback()
    assert service.product_figures(world.db, product_id=world.product.id).photo_count == 1
    assert figures.check_figures(world.db) == []
    late = review(world, world.received()).items[0]
    clock.advance(timedelta(days=91))
    with pytest.raises(Conflict):
        writing.add_follow_up(world.db, world.buyer_actor, late.id, text="太晚了")


def test_the_shop_replies_once(world: World) -> None:
    item = review(world, world.received()).items[0]
    staff = world.staff_actor
    with pytest.raises(NotFound):  # not the shop's staff: the shop is "not found"
        writing.reply(world.db, world.actor(world.other_owner), world.shop_id, item.id, text="x")
    other_shop = world.actor(world.other_owner)
    with pytest.raises(NotFound):
        writing.reply(world.db, other_shop, world.other_shop_id, item.id, text="x")
    done = writing.reply(world.db, staff, world.shop_id, item.id, text="感谢支持")
    assert done.reply_text == "感谢支持"
    with pytest.raises(Conflict) as info:
        writing.reply(world.db, staff, world.shop_id, item.id, text="第二次")
    assert info.value.code == "already_replied"
    world.db.rollback()
    assert service.get_item(world.db, item.id).reply_text == "感谢支持"


def test_helpful_votes_count_once_per_user_and_sort(
    world: World, make_user: Any, clock: Any
) -> None:
    first = review(world, world.received()).items[0]
    clock.advance(timedelta(minutes=5))
    second = review(world, world.received()).items[0]
    voter = world.actor(world.other_buyer)
    browse.mark_helpful(world.db, voter, first.id)
    again = browse.mark_helpful(world.db, voter, first.id)
    assert again.helpful_count == 1
    with pytest.raises(Conflict):
        browse.mark_helpful(world.db, world.buyer_actor, first.id)
    _p, _f, newest = browse.product_reviews(world.db, product_id=world.product.id)
    assert [i.id for i in newest.items] == [second.id, first.id]
    _p, _f, helpful = browse.product_reviews(world.db, product_id=world.product.id, sort="helpful")
    assert [i.id for i in helpful.items] == [first.id, second.id]
    assert browse.voted(world.db, voter, [first.id, second.id]) == {first.id}


def test_the_with_photos_filter(world: World) -> None:
    plain = review(world, world.received()).items[0]
    order = world.received()
    pictured = review(world, order, lines=lines_of(order, photos=1)).items[0]
    _p, figs, page = browse.product_reviews(world.db, product_id=world.product.id, photos=True)
    assert [i.id for i in page.items] == [pictured.id] and page.total == 1
    assert figs.photo_count == 1 and figs.review_count == 2
    assert plain.id != pictured.id


def test_the_check_names_a_figure_that_drifted(world: World) -> None:
    review(world, world.received())
    world.db.rollback()
    row = world.db.get(ShopReviewFigures, world.shop_id)
    assert row is not None
    row.service_star_sum -= 1
    world.db.commit()
    [mismatch] = figures.check_figures(world.db)
    assert mismatch.table == "shop_review_figures" and mismatch.key == world.shop_id
    assert mismatch.kept[1] == mismatch.counted[1] - 1

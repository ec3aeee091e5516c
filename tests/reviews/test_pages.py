"""The review pages over HTTP: the form, bad input answered with a clear 4xx and nothing
written, the merchant's one reply, the product's reviews page and the summary API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.reviews.conftest import World, png
from xiaodian.reviews.models import Review


def _reviews(w: World) -> int:
    w.db.rollback()
    n = w.db.scalar(select(func.count()).select_from(Review)) or 0
    w.db.commit()
    return n


def _form(order: Any, stars: str = "5") -> dict[str, Any]:
    line = order.lines[0].id
    return {
        "line": str(line),
        f"stars_{line}": stars,
        f"text_{line}": "不错",
        "service_stars": "5",
        "logistics_stars": "5",
    }


def _csrf(client: Any, path: str) -> str:
    client.get(path)
    return str(client.cookies.get("xd_csrf"))


def test_review_pages_and_bad_input(world: World, login_client: Any) -> None:
    order = world.received()
    unfinished = world.shipped()
    world.idle()
    buyer = login_client(world.buyer)
    path = f"/orders/{order.order_no}/review"
    token = _csrf(buyer, path)
    assert buyer.get(path).status_code == 200

    # another buyer's order: not found
    other = login_client(world.other_buyer)
    other_token = _csrf(other, "/")
    answer = other.post(path, data={**_form(order), "csrf_token": other_token})
    assert answer.status_code == 404
    # not completed: 409 with the message
    answer = buyer.post(
        f"/orders/{unfinished.order_no}/review", data={**_form(unfinished), "csrf_token": token}
    )
    assert answer.status_code == 409 and "订单完成后才能评价" in answer.text
    # stars 0 and 6, a line id that is no number
    for stars in ("0", "6", "x"):
        answer = buyer.post(path, data={**_form(order, stars), "csrf_token": token})
        assert answer.status_code == 422
    # ten photos
    line = order.lines[0].id
    files = [(f"photos_{line}", (f"p{i}.png", png(), "image/png")) for i in range(10)]
    answer = buyer.post(path, data={**_form(order), "csrf_token": token}, files=files)
    assert answer.status_code == 422 and "9" in answer.text
    # no CSRF token: refused
    assert buyer.post(path, data=_form(order)).status_code in (400, 403)
    assert _reviews(world) == 0

    answer = buyer.post(
        path, data={**_form(order), "csrf_token": token}, files=files[:1], follow_redirects=False
    )
    assert answer.status_code == 303
    assert _reviews(world) == 1
    again = buyer.post(path, data={**_form(order), "csrf_token": token})
    assert again.status_code == 409 and _reviews(world) == 1

    world.db.rollback()
    review = world.db.scalar(select(Review).where(Review.order_id == order.id))
    assert review is not None
    item_id = review.items[0].id
    world.idle()

    merchant = login_client(world.owner)
    reply_path = f"/merchant/shops/{world.shop_id}/reviews/{item_id}/reply"
    m_token = _csrf(merchant, f"/merchant/shops/{world.shop_id}/reviews")
    done = merchant.post(
        reply_path, data={"text": "谢谢", "csrf_token": m_token}, follow_redirects=False
    )
    assert done.status_code == 303
    second = merchant.post(reply_path, data={"text": "再谢", "csrf_token": m_token})
    assert second.status_code == 409
    # another shop's owner: not found
    stranger = login_client(world.other_owner)
    s_token = _csrf(stranger, "/")
    assert stranger.post(reply_path, data={"text": "x", "csrf_token": s_token}).status_code == 404
    wrong_shop = f"/merchant/shops/{world.other_shop_id}/reviews/{item_id}/reply"
    assert stranger.post(wrong_shop, data={"text": "x", "csrf_token": s_token}).status_code == 404

    visitor_page = buyer.get(f"/p/{world.product.id}/reviews?sort=helpful&photos=1")
    assert visitor_page.status_code == 200 and "谢谢" in visitor_page.text
    assert buyer.get(f"/p/{world.product.id}/reviews?sort=worst").status_code == 422
    assert buyer.get("/p/999999/reviews").status_code == 404
    summary = buyer.get(f"/api/v1/products/{world.product.id}/reviews/summary").json()
    assert summary["review_count"] == 1 and summary["average"] == 5.0
    assert summary["photo_count"] == 1
    # helpful: the author may not vote, another buyer once
    assert buyer.post(f"/reviews/{item_id}/helpful", data={"csrf_token": token}).status_code == 409
    for _ in range(2):
        other.post(f"/reviews/{item_id}/helpful", data={"csrf_token": other_token})
    world.db.rollback()
    assert world.db.get(type(review.items[0]), item_id).helpful_count == 1
    assert (
        other.post("/reviews/999999/helpful", data={"csrf_token": other_token}).status_code == 404
    )

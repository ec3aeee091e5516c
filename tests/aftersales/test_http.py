"""The JSON API and the HTML pages: permissions per role, forms, uploads, query counts."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from tests.aftersales.conftest import World
from xiaodian.aftersales import cases
from xiaodian.aftersales.models import AftersaleCase


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buf = BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


def csrf(client: Any) -> str:
    return str(client.cookies.get("xd_csrf", ""))


def open_case(world: World, order: Any, **kwargs: Any) -> AftersaleCase:
    args: dict[str, Any] = {
        "order_no": order.order_no,
        "line_id": order.lines[0].id,
        "kind": "refund_only",
        "reason": "quality",
    }
    args.update(kwargs)
    case = cases.open_case(world.db, world.buyer_actor, **args)
    world.db.commit()
    return case


def media_files(settings: Any) -> list[Path]:
    folder = Path(settings.media_dir) / "aftersales"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_api_permissions_per_role(world: World, api_client: Any, client: Any) -> None:
    order = world.paid()
    case = open_case(world, order)
    shop, other_shop = world.shop_id, world.other_shop_id
    world.idle()
    buyer = api_client(world.buyer)
    other = api_client(world.other_buyer)
    staff = api_client(world.staff)
    stranger_shop = api_client(world.other_owner)
    operator = api_client(world.operator)
    mine = f"/api/v1/aftersales/{case.id}"
    theirs = f"/api/v1/merchant/shops/{shop}/aftersales/{case.id}"

    assert client.get(mine).status_code == 401
    assert buyer.get(mine).status_code == 200
    assert buyer.get(mine).json()["actions"] == ["withdraw"]
    assert other.get(mine).status_code == 404
    assert operator.get(mine).status_code == 404
    assert staff.get(mine).status_code == 404
    assert staff.get(theirs).status_code == 200
    assert staff.get(theirs).json()["actions"] == ["approve", "reject"]
    assert buyer.get(theirs).status_code == 404
    assert stranger_shop.get(theirs).status_code == 404
    r = stranger_shop.get(f"/api/v1/merchant/shops/{other_shop}/aftersales/{case.id}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "case_not_found"
    assert (
        stranger_shop.get(f"/api/v1/merchant/shops/{other_shop}/aftersales").json()["items"] == []
    )
    assert buyer.get("/api/v1/ops/arbitration").status_code == 403
    assert staff.get(f"/api/v1/ops/arbitration/{case.id}").status_code == 403
    assert operator.get("/api/v1/ops/arbitration").status_code == 200
    assert operator.get(f"/api/v1/ops/arbitration/{case.id}").json()["actions"] == []

    # writes: only the right role moves the case
    assert other.post(mine + "/withdraw", json={}).status_code == 404
    assert stranger_shop.post(theirs + "/approve", json={}).status_code == 404
    assert buyer.post(theirs + "/approve", json={}).status_code == 404
    r = operator.post(
        f"/api/v1/ops/arbitration/{case.id}/decide", json={"decision": "approve", "note": "x"}
    )
    assert r.status_code == 409  # not escalated
    r = staff.post(theirs + "/approve", json={"amount_fen": "lots"})
    assert r.status_code == 422
    r = staff.post(theirs + "/approve", json={})
    assert r.status_code == 200 and r.json()["status"] == "refunding"
    r = staff.post(theirs + "/approve", json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "case_refunding"


def test_api_open_and_follow(world: World, api_client: Any) -> None:
    order = world.shipped()
    buyer = api_client(world.buyer)
    r = buyer.get(
        "/api/v1/aftersales/options",
        params={"order_no": order.order_no, "line_id": order.lines[0].id},
    )
    assert r.status_code == 200
    assert r.json()["kinds"] == ["refund_only", "return_refund"]
    assert r.json()["max_refund_fen"] == 3980
    body = {
        "order_no": order.order_no,
        "line_id": order.lines[0].id,
        "kind": "return_refund",
        "reason": "no_longer_wanted",
        "quantity": 1,
    }
    assert buyer.post("/api/v1/aftersales", json={**body, "amount_fen": 99999}).status_code == 422
    assert buyer.post("/api/v1/aftersales", json={**body, "kind": "x"}).status_code == 422
    assert buyer.post("/api/v1/aftersales", json={**body, "extra": 1}).status_code == 422
    r = buyer.post("/api/v1/aftersales", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["requested_fen"] == 1990 and data["status"] == "requested"
    assert [e["action"] for e in data["events"]] == ["open"]
    r = buyer.post("/api/v1/aftersales", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "case_open"
    staff = api_client(world.staff)
    base = f"/api/v1/merchant/shops/{world.shop_id}/aftersales/{data['id']}"
    assert staff.post(base + "/reject", json={"reason": ""}).status_code == 422
    assert staff.post(base + "/approve", json={"amount_fen": 1000}).status_code == 422
    assert (
        staff.post(base + "/approve", json={"amount_fen": 1000, "note": "有使用痕迹"}).json()[
            "approved_fen"
        ]
        == 1000
    )
    r = buyer.post(
        f"/api/v1/aftersales/{data['id']}/ship-back",
        json={"carrier": "SF", "tracking_no": "SF1234567890999"},
    )
    assert r.status_code == 200 and r.json()["status"] == "awaiting_return"
    r = staff.post(base + "/confirm-return", json={"restock": True})
    assert r.status_code == 200 and r.json()["status"] == "refunding"
    listing = buyer.get("/api/v1/aftersales").json()
    assert [c["id"] for c in listing["items"]] == [data["id"]]
    queue = staff.get(
        f"/api/v1/merchant/shops/{world.shop_id}/aftersales", params={"status": "all"}
    ).json()
    assert queue["total"] == 1
    assert (
        staff.get(
            f"/api/v1/merchant/shops/{world.shop_id}/aftersales", params={"status": "bogus"}
        ).status_code
        == 422
    )


def test_list_queries_do_not_grow_with_cases(
    world: World, api_client: Any, count_queries: Any
) -> None:
    staff = api_client(world.staff)
    buyer = api_client(world.buyer)
    url = f"/api/v1/merchant/shops/{world.shop_id}/aftersales"
    open_case(world, world.paid())
    with count_queries() as one_shop:
        staff.get(url)
    with count_queries() as one_mine:
        buyer.get("/api/v1/aftersales")
    for _ in range(4):
        open_case(world, world.paid())
    with count_queries() as five_shop:
        assert len(staff.get(url).json()["items"]) == 5
    with count_queries() as five_mine:
        assert len(buyer.get("/api/v1/aftersales").json()["items"]) == 5
    assert five_shop.count == one_shop.count
    assert five_mine.count == one_mine.count


def test_html_buyer_and_merchant_flow(world: World, login_client: Any, settings: Any) -> None:
    order = world.paid([(world.sku_id, 2)])
    line = order.lines[0]
    buyer = login_client(world.buyer)
    form = buyer.get(f"/orders/{order.order_no}/aftersales/new?line={line.id}")
    assert form.status_code == 200 and line.title in form.text
    r = buyer.post(
        f"/orders/{order.order_no}/aftersales/new",
        data={
            "csrf_token": csrf(buyer),
            "line": str(line.id),
            "kind": "refund_only",
            "reason": "wrong_item_ordered",
            "quantity": "1",
            "amount": "19.90",
            "description": "拍错了",
        },
        files=[("photos", ("a.png", png(), "image/png"))],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    case_url = r.headers["location"]
    case_id = int(case_url.rsplit("/", 1)[1])
    page = buyer.get(case_url)
    assert page.status_code == 200 and "拍错了" in page.text
    assert len(media_files(settings)) == 2  # the photo and its thumbnail
    assert "/aftersales/" in buyer.get("/aftersales").text

    # another buyer sees nothing
    assert login_client(world.other_buyer).get(case_url).status_code == 404

    merchant = login_client(world.staff)
    queue = merchant.get(f"/merchant/shops/{world.shop_id}/aftersales")
    assert queue.status_code == 200 and line.title in queue.text
    case_page = f"/merchant/shops/{world.shop_id}/aftersales/{case_id}"
    assert merchant.get(case_page).status_code == 200
    r = merchant.post(
        case_page + "/approve",
        data={"csrf_token": csrf(merchant), "amount": "abc", "note": ""},
    )
    assert r.status_code == 422 and "alert error" in r.text
    r = merchant.post(
        case_page + "/approve",
        data={"csrf_token": csrf(merchant), "amount": "19.90", "note": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = merchant.post(
        case_page + "/approve", data={"csrf_token": csrf(merchant), "amount": "19.90"}
    )
    assert r.status_code == 409
    assert login_client(world.other_owner).get(case_page).status_code == 404
    world.settle_refunds()
    assert "¥19.90" in buyer.get(case_url).text


def test_html_escalation_and_arbitration(world: World, login_client: Any) -> None:
    order = world.shipped()
    case = open_case(world, order, kind="return_refund", reason="quality")
    cases.reject(world.db, world.staff_actor, world.shop_id, case.id, reason="无质量问题")
    buyer = login_client(world.buyer)
    r = buyer.post(
        f"/aftersales/{case.id}/escalate",
        data={"csrf_token": csrf(buyer), "note": "有照片"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    buyer_only = login_client(world.other_buyer)
    assert buyer_only.get("/ops/arbitration").status_code == 403
    ops = login_client(world.operator)
    queue = ops.get("/ops/arbitration")
    assert queue.status_code == 200 and f"/ops/arbitration/{case.id}" in queue.text
    r = ops.post(
        f"/ops/arbitration/{case.id}/decide",
        data={"csrf_token": csrf(ops), "decision": "approve", "note": ""},
    )
    assert r.status_code == 422
    r = ops.post(
        f"/ops/arbitration/{case.id}/decide",
        data={
            "csrf_token": csrf(ops),
            "decision": "approve",
            "note": "照片显示破损",
            "amount": "39.80",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    world.db.expire_all()
    assert world.db.get(AftersaleCase, case.id).status == "approved"
    world.idle()
    r = buyer.post(
        f"/aftersales/{case.id}/ship-back",
        data={"csrf_token": csrf(buyer), "carrier": "SF", "tracking_no": "nope"},
    )
    assert r.status_code == 422


def test_uploads_refused_write_nothing(world: World, login_client: Any, settings: Any) -> None:
    order = world.paid()
    buyer = login_client(world.buyer)
    url = f"/orders/{order.order_no}/aftersales/new"
    data = {
        "csrf_token": csrf(buyer),
        "line": str(order.lines[0].id),
        "kind": "refund_only",
        "reason": "quality",
    }
    # a good image first, then a text file pretending to be one: all or nothing
    r = buyer.post(
        url,
        data=data,
        files=[
            ("photos", ("a.png", png(), "image/png")),
            ("photos", ("b.png", b"not an image at all", "image/png")),
        ],
    )
    assert r.status_code == 422 and "alert error" in r.text
    big = b"\x89PNG" + b"0" * (settings.max_image_bytes + 10)
    r = buyer.post(url, data=data, files=[("photos", ("big.png", big, "image/png"))])
    assert r.status_code == 413
    r = buyer.post(
        url, data=data, files=[("photos", (f"{i}.png", png(), "image/png")) for i in range(4)]
    )
    assert r.status_code == 422
    world.db.rollback()
    assert world.db.scalar(select(func.count()).select_from(AftersaleCase)) == 0
    assert media_files(settings) == []
    assert world.refresh(order).aftersale_open is False
    # a case that cannot be opened keeps no photo either
    r = buyer.post(
        url,
        data={**data, "amount": "99999"},
        files=[("photos", ("a.png", png(), "image/png"))],
    )
    assert r.status_code == 422
    assert media_files(settings) == []


def test_pages_404_for_unknown_ids(world: World, login_client: Any) -> None:
    buyer = login_client(world.buyer)
    assert buyer.get("/aftersales/999999").status_code == 404
    assert buyer.get("/aftersales/abc").status_code == 422
    assert buyer.get("/orders/20990101000000000/aftersales/new").status_code == 404
    merchant = login_client(world.staff)
    assert merchant.get(f"/merchant/shops/{world.shop_id}/aftersales/999999").status_code == 404
    assert merchant.get(f"/merchant/shops/{world.other_shop_id}/aftersales").status_code == 404


def test_links_from_the_order_page_and_the_console(world: World, login_client: Any) -> None:
    order = world.paid([(world.sku_id, 1), (world.sku2_id, 1)])
    order_no, line_ids = order.order_no, [line.id for line in order.lines]
    buyer = login_client(world.buyer)
    page = buyer.get(f"/orders/{order_no}").text
    for line_id in line_ids:
        assert f"/orders/{order_no}/aftersales/new?line={line_id}" in page
    open_case(world, order)
    world.idle()
    merchant = login_client(world.staff)
    overview = merchant.get(f"/merchant/shops/{world.shop_id}")
    assert overview.status_code == 200
    assert '<span class="badge warn">1</span>' in overview.text

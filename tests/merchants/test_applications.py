"""Merchant onboarding through the JSON API: apply, review, approve / reject, resubmit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.factories import leaf_category, make_shop
from tests.merchants.conftest import code, png
from xiaodian.accounts.service import actor_for_user
from xiaodian.merchants.models import (
    ApplicationEvent,
    MemberRole,
    MerchantApplication,
    Shop,
    ShopMember,
)


def _count(db: Any, model: Any) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)))


def _events(db: Any, application_id: int) -> list[tuple[str, int, str | None]]:
    db.rollback()
    rows = db.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.id)
    )
    return [(e.action, e.actor_id, e.note) for e in rows]


@pytest.fixture
def people(make_user: Any, api_client: Any) -> Any:
    applicant = make_user(display_name="林晓花")
    operator = make_user("ops@example.com", operator=True, display_name="运营小李")
    return {
        "applicant": applicant,
        "operator": operator,
        "as_applicant": api_client(applicant),
        "as_operator": api_client(operator),
    }


def test_apply_then_approve_makes_the_applicant_owner(db, people, body, category):
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications", json=body(license_no=code().lower())
    )
    assert r.status_code == 201, r.text
    application = r.json()
    assert application["status"] == "submitted"
    assert application["license_no"] == code()  # upper-cased
    assert application["shop_id"] is None

    r = people["as_operator"].post(f"/api/v1/ops/applications/{application['id']}/approve")
    assert r.status_code == 200, r.text
    shop_id = r.json()["shop_id"]
    assert r.json()["status"] == "approved" and shop_id

    db.rollback()
    shop = db.get(Shop, shop_id)
    assert (shop.name, shop.main_category_id, str(shop.entity_type), shop.legal_name) == (
        "花间衣橱",
        category,
        "enterprise",
        "杭州花间服饰有限公司",
    )
    member = db.scalar(select(ShopMember).where(ShopMember.shop_id == shop_id))
    assert member.user_id == people["applicant"].id and member.role == MemberRole.OWNER
    assert member.added_by_id == people["operator"].id
    assert actor_for_user(db, people["applicant"]).shop_roles == {shop_id: "owner"}
    assert [(a, who) for a, who, _n in _events(db, application["id"])] == [
        ("submitted", people["applicant"].id),
        ("approved", people["operator"].id),
    ]
    mine = people["as_applicant"].get("/api/v1/merchant/shops").json()
    assert [(s["id"], s["name"], s["role"]) for s in mine] == [(shop_id, "花间衣橱", "owner")]
    me = people["as_applicant"].get("/api/v1/me").json()
    assert me["shop_ids"] == [shop_id]


def test_reject_with_reason_then_resubmit_then_approve(db, people, body, clock):
    first = people["as_applicant"].post("/api/v1/merchant/applications", json=body()).json()
    reject = f"/api/v1/ops/applications/{first['id']}/reject"
    for empty in ({"reason": ""}, {"reason": "   "}, {}):
        r = people["as_operator"].post(reject, json=empty)
        assert r.status_code == 422, empty
    db.rollback()
    assert db.get(MerchantApplication, first["id"]).status == "submitted"

    reason = "营业执照照片模糊，请重新上传。"
    r = people["as_operator"].post(reject, json={"reason": reason})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    mine = people["as_applicant"].get("/api/v1/merchant/applications").json()
    assert mine[0]["reject_reason"] == reason

    clock.advance(hours=2)
    r = people["as_applicant"].post(
        f"/api/v1/merchant/applications/{first['id']}/resubmit",
        json=body(shop_name="花间衣橱旗舰店"),
    )
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["status"] == "submitted" and again["reject_reason"] is None
    assert again["shop_name"] == "花间衣橱旗舰店"
    assert again["submitted_at"] > first["submitted_at"]  # back of the queue

    # A submitted application cannot be resubmitted.
    r = people["as_applicant"].post(
        f"/api/v1/merchant/applications/{first['id']}/resubmit", json=body()
    )
    assert r.status_code == 409

    r = people["as_operator"].post(f"/api/v1/ops/applications/{first['id']}/approve")
    assert r.status_code == 200
    events = _events(db, first["id"])
    assert [a for a, _who, _n in events] == ["submitted", "rejected", "resubmitted", "approved"]
    assert events[1][2] == reason
    assert events[2][2] == "shop_name"  # what the applicant changed
    db.rollback()
    assert db.get(Shop, r.json()["shop_id"]).name == "花间衣橱旗舰店"
    detail = people["as_applicant"].get(f"/api/v1/merchant/applications/{first['id']}").json()
    assert [e["action"] for e in detail["events"]][-1] == "approved"
    assert detail["events"][1]["actor_name"] == "运营小李"


def test_deciding_twice_or_a_decided_application_is_409(db, people, body):
    a = people["as_applicant"].post("/api/v1/merchant/applications", json=body()).json()
    approve = f"/api/v1/ops/applications/{a['id']}/approve"
    reject = f"/api/v1/ops/applications/{a['id']}/reject"
    assert people["as_operator"].post(approve).status_code == 200
    r = people["as_operator"].post(approve)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_decided"
    assert people["as_operator"].post(reject, json={"reason": "x"}).status_code == 409
    assert _count(db, Shop) == 1 and _count(db, ShopMember) == 1
    assert len(_events(db, a["id"])) == 2

    other = people["as_operator"]
    b_user_client = people["as_applicant"]
    b = b_user_client.post("/api/v1/merchant/applications", json=body(shop_name="第二家店"))
    assert b.status_code == 201  # approved before, so a new one may be opened
    b_id = b.json()["id"]
    assert other.post(f"/api/v1/ops/applications/{b_id}/reject", json={"reason": "不符"}).is_success
    assert other.post(f"/api/v1/ops/applications/{b_id}/approve").status_code == 409
    assert (
        other.post(f"/api/v1/ops/applications/{b_id}/reject", json={"reason": "y"}).status_code
        == 409
    )
    assert _count(db, Shop) == 1


def test_only_operators_decide_and_see_the_queue(people, body, make_user, api_client, client):
    a = people["as_applicant"].post("/api/v1/merchant/applications", json=body()).json()
    merchant = make_user()
    urls = [
        ("get", "/api/v1/ops/applications", None),
        ("get", f"/api/v1/ops/applications/{a['id']}", None),
        ("post", f"/api/v1/ops/applications/{a['id']}/approve", None),
        ("post", f"/api/v1/ops/applications/{a['id']}/reject", {"reason": "no"}),
    ]
    for who in (people["as_applicant"], api_client(merchant)):
        for method, url, json in urls:
            r = getattr(who, method)(url, **({"json": json} if json else {}))
            assert r.status_code == 403, (method, url)
            assert r.json()["error"]["code"] == "forbidden"
    for method, url, json in urls:
        r = getattr(client, method)(url, **({"json": json or {}} if method == "post" else {}))
        assert r.status_code == 401, (method, url)
    assert people["as_operator"].get(f"/api/v1/ops/applications/{a['id']}").status_code == 200
    # The applicant reads their own application; others get 404, not 403.
    assert people["as_applicant"].get(f"/api/v1/merchant/applications/{a['id']}").is_success
    r = api_client(merchant).get(f"/api/v1/merchant/applications/{a['id']}")
    assert r.status_code == 404
    r = api_client(merchant).post(f"/api/v1/merchant/applications/{a['id']}/resubmit", json=body())
    assert r.status_code == 404


def test_one_open_application_per_user(db, people, body):
    assert people["as_applicant"].post("/api/v1/merchant/applications", json=body()).is_success
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications", json=body(shop_name="另一家店")
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "application_open"
    assert _count(db, MerchantApplication) == 1


def test_shop_names_are_unique_among_shops_and_open_applications(
    db, people, body, make_user, api_client
):
    rival = api_client(make_user())
    a = people["as_applicant"].post("/api/v1/merchant/applications", json=body()).json()
    r = rival.post("/api/v1/merchant/applications", json=body(shop_name=" 花间衣橱 "))
    assert r.status_code == 409 and r.json()["error"]["code"] == "shop_name_taken"

    db.rollback()
    make_shop(db, make_user(), name="山野茶铺")
    r = rival.post("/api/v1/merchant/applications", json=body(shop_name="山野茶铺"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "shop_name_taken"

    # A rejected application no longer holds its name.
    people["as_operator"].post(f"/api/v1/ops/applications/{a['id']}/reject", json={"reason": "x"})
    assert rival.post("/api/v1/merchant/applications", json=body()).status_code == 201
    # ...so the rejected applicant cannot take it back while the rival's is open.
    r = people["as_applicant"].post(
        f"/api/v1/merchant/applications/{a['id']}/resubmit", json=body()
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "shop_name_taken"
    db.rollback()
    assert db.get(MerchantApplication, a["id"]).status == "rejected"


@pytest.mark.parametrize(
    ("overrides", "code_"),
    [
        ({"entity_type": "company"}, "invalid"),
        ({"legal_name": "x"}, "invalid_legal_name"),
        ({"license_no": code()[:-1] + ("1" if code()[-1] != "1" else "2")}, "invalid_license_no"),
        ({"license_no": "91330106MA2H7K3PO0"}, "invalid_license_no"),
        ({"license_no": "12345"}, "invalid_license_no"),
        ({"contact_name": "  "}, "invalid_contact_name"),
        ({"contact_phone": "12345678901"}, "invalid_phone"),
        ({"contact_phone": "not a phone"}, "invalid_phone"),
        ({"main_category_id": 999999}, "invalid_category"),
        ({"main_category_id": "abc"}, "invalid"),
        ({"shop_name": "花"}, "invalid_shop_name"),
        ({"shop_name": "店" * 41}, "invalid_shop_name"),
        ({"shop_name": None}, "invalid"),
    ],
)
def test_bad_input_is_422_and_writes_nothing(db, people, body, overrides, code_):
    r = people["as_applicant"].post("/api/v1/merchant/applications", json=body(**overrides))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code_
    assert r.json()["error"]["message"]
    assert _count(db, MerchantApplication) == 0


def test_a_category_id_past_the_column_is_not_found(db, people, body):
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications", json=body(main_category_id=2**40)
    )
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    assert _count(db, MerchantApplication) == 0


def test_malformed_bodies_are_422(db, people):
    c = people["as_applicant"]
    for raw in (b"{nope", b"[1, 2]", b'"text"'):
        r = c.post(
            "/api/v1/merchant/applications",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, raw
    assert c.get("/api/v1/merchant/applications/abc").status_code == 422
    assert c.get(f"/api/v1/merchant/applications/{2**40}").status_code == 404  # no row has it
    assert c.get("/api/v1/merchant/applications/424242").status_code == 404
    assert _count(db, MerchantApplication) == 0


def test_top_level_category_is_not_a_main_category(db, people, body):
    top = leaf_category(db, "dresses").parent_id
    db.rollback()
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications", json=body(main_category_id=top)
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_category"


def test_errors_are_translated(people, body):
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications",
        json=body(license_no="12345"),
        headers={"Accept-Language": "zh-CN"},
    )
    assert "统一社会信用代码" in r.json()["error"]["message"]


def _multipart(body: dict[str, Any], **files: bytes) -> dict[str, Any]:
    return {
        "data": {k: str(v) for k, v in body.items()},
        "files": {name: (f"{name}.png", data, "image/png") for name, data in files.items()},
    }


def test_multipart_with_images_stores_them(db, people, body, media_files, client):
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications",
        **_multipart(body(), logo=png(), license_image=png((300, 200), "white")),
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["logo_url"].startswith("/media/shops/")
    assert out["license_image_url"] == f"/api/v1/merchant/applications/{out['id']}/licence"
    assert client.get(out["logo_url"]).status_code == 200
    assert len(media_files()) == 4  # two images with their thumbnails
    approved = people["as_operator"].post(f"/api/v1/ops/applications/{out['id']}/approve")
    db.rollback()
    assert db.get(Shop, approved.json()["shop_id"]).logo_path == out["logo_url"][len("/media/") :]


def test_a_non_image_upload_is_422_and_leaves_nothing(db, people, body, media_files):
    # The logo is fine and is processed first; the licence is not an image.
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications",
        **_multipart(body(), logo=png(), license_image=b"%PDF-1.4 not an image"),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "not_an_image"
    assert _count(db, MerchantApplication) == 0 and _count(db, ApplicationEvent) == 0
    assert media_files() == []


def test_an_oversize_upload_is_413_and_leaves_nothing(db, people, body, media_files, settings):
    big = b"\x89PNG" + b"0" * settings.max_image_bytes
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications",
        **_multipart(body(), logo=png(), license_image=big),
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert _count(db, MerchantApplication) == 0
    assert media_files() == []


def test_a_failing_field_after_good_images_leaves_no_files(db, people, body, media_files):
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications",
        **_multipart(body(shop_name="x"), logo=png(), license_image=png()),
    )
    assert r.status_code == 422
    assert media_files() == []


def test_queue_is_oldest_first_filters_by_status_and_has_no_n_plus_1(
    db, make_user, api_client, body, clock, count_queries, people
):
    ids = []
    for i in range(6):
        c = api_client(make_user())
        ids.append(
            c.post("/api/v1/merchant/applications", json=body(shop_name=f"店铺{i}")).json()["id"]
        )
        clock.advance(minutes=5)
    ops = people["as_operator"]
    ops.post(f"/api/v1/ops/applications/{ids[1]}/reject", json={"reason": "资料不全"})
    r = ops.get("/api/v1/ops/applications?status=submitted")
    assert [a["id"] for a in r.json()] == [ids[0], *ids[2:]]
    assert [a["id"] for a in ops.get("/api/v1/ops/applications?status=rejected").json()] == [ids[1]]
    assert len(ops.get("/api/v1/ops/applications").json()) == 6
    assert ops.get("/api/v1/ops/applications?status=bogus").status_code == 422
    assert ops.get("/api/v1/ops/applications?limit=0").status_code == 422

    with count_queries() as few:
        assert len(ops.get("/api/v1/ops/applications?limit=2").json()) == 2
    with count_queries() as many:
        assert len(ops.get("/api/v1/ops/applications?limit=6").json()) == 6
    assert many.count == few.count, many.statements


def test_licence_images_are_private(
    db, people, body, media_files, client, make_user, api_client, login_client, settings
):
    r = people["as_applicant"].post(
        "/api/v1/merchant/applications",
        **_multipart(body(), license_image=png((300, 200), "white")),
    )
    assert r.status_code == 201, r.text
    url = r.json()["license_image_url"]
    stored = [f for f in media_files() if f.startswith("licences/") and "_t." not in f]
    assert len(stored) == 1
    # kept out of the media directory (a proxy serving it directly never sees them)
    assert not (Path(settings.media_dir) / "licences").exists()
    assert (Path(settings.data_dir) / "private" / stored[0]).is_file()
    # and /media refuses the folder's name, however it is spelled (older files lie there)
    legacy = Path(settings.media_dir) / "licences" / "old.png"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(png())
    for path in (
        "licences/old.png",
        "./licences/old.png",
        "images/../licences/old.png",
        "Licences/old.png",
        "LICENCES/old.png",
        "licences/",
    ):
        assert client.get(f"/media/{path}").status_code == 404, path
    # the applicant and operators see it, not cached by anyone in between
    for who in ("as_applicant", "as_operator"):
        seen = people[who].get(url)
        assert seen.status_code == 200 and seen.headers["content-type"] == "image/jpeg"
        assert seen.content[:2] == b"\xff\xd8"
        assert "no-store" in seen.headers["cache-control"]
        assert seen.headers["x-content-type-options"] == "nosniff"
    # the operator console's page shows it with the session cookie
    console = login_client(people["operator"])
    page = console.get(f"/ops/applications/{r.json()['id']}")
    assert f'src="{url}"' in page.text
    assert console.get(url).status_code == 200
    # a licence stored in the media directory by an older version is still served here
    app_id = int(url.split("/")[-2])
    db.execute(
        update(MerchantApplication)
        .where(MerchantApplication.id == app_id)
        .values(license_image_path="licences/old.png")
    )
    db.commit()
    older = people["as_applicant"].get(url)
    assert older.status_code == 200 and older.headers["content-type"] == "image/png"
    # nobody else: a stranger gets 404 (as for the application), the anonymous 401
    stranger = api_client(make_user(display_name="路人"))
    assert stranger.get(url).status_code == 404
    assert client.get(url).status_code == 401
    # an application without a licence image has none to show
    other = body(license_no=code("91330106MA2H7K3P4"), shop_name="路人小店")
    r = stranger.post("/api/v1/merchant/applications", json=other)
    assert r.status_code == 201 and r.json()["license_image_url"] is None
    missing = stranger.get(f"/api/v1/merchant/applications/{r.json()['id']}/licence")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "file_not_found"

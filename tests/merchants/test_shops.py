"""Shops and staff: the console API, permissions per role, and the reads other domains use."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_shop
from tests.merchants.conftest import png
from xiaodian.accounts.service import actor_for_user
from xiaodian.errors import NotFound
from xiaodian.merchants import service
from xiaodian.merchants.models import Shop


@pytest.fixture
def scene(db: Any, make_user: Any, api_client: Any) -> Any:
    owner = make_user("13811110001", display_name="店主")
    staff = make_user("13811110002", display_name="员工")
    stranger = make_user("13811110003", display_name="路人")
    rival = make_user("13811110004", display_name="别家店主")
    candidate = make_user("new.staff@example.com", display_name="新员工")
    shop = make_shop(db, owner, name="花间衣橱", staff=staff)
    other = make_shop(db, rival, name="山野茶铺")
    ids = (shop.id, other.id)
    db.rollback()
    return {
        "shop": ids[0],
        "other": ids[1],
        "users": {"owner": owner, "staff": staff, "candidate": candidate},
        "owner": api_client(owner),
        "staff": api_client(staff),
        "stranger": api_client(stranger),
        "rival": api_client(rival),
    }


def test_owner_adds_and_removes_staff(db, scene):
    base = f"/api/v1/merchant/shops/{scene['shop']}/staff"
    r = scene["owner"].post(base, json={"login": "New.Staff@Example.com"})
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["role"] == "staff" and added["display_name"] == "新员工"
    assert added["login"] == "ne***@example.com"
    candidate = scene["users"]["candidate"]
    assert actor_for_user(db, candidate).shop_roles == {scene["shop"]: "staff"}
    db.rollback()

    listing = scene["owner"].get(base).json()
    assert [(m["display_name"], m["role"]) for m in listing] == [
        ("店主", "owner"),
        ("员工", "staff"),
        ("新员工", "staff"),
    ]
    assert listing[0]["login"] == "138****0001"

    r = scene["owner"].post(base, json={"login": "new.staff@example.com"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_member"
    r = scene["owner"].post(base, json={"login": "13999999999"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_account"
    r = scene["owner"].post(base, json={"login": "not a login"})
    assert r.status_code == 422
    r = scene["owner"].post(base, json={"login": ["x"]})
    assert r.status_code == 422

    assert scene["owner"].delete(f"{base}/{candidate.id}").status_code == 204
    assert actor_for_user(db, candidate).shop_roles == {}
    db.rollback()
    assert scene["owner"].delete(f"{base}/{candidate.id}").status_code == 404


def test_the_owner_cannot_remove_themselves(scene):
    owner_id = scene["users"]["owner"].id
    r = scene["owner"].delete(f"/api/v1/merchant/shops/{scene['shop']}/staff/{owner_id}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_remove_owner"


def test_staff_can_look_but_not_change(scene):
    base = f"/api/v1/merchant/shops/{scene['shop']}"
    staff_id = scene["users"]["staff"].id
    owner_id = scene["users"]["owner"].id
    c = scene["staff"]
    assert c.get(f"{base}/staff").status_code == 200
    assert c.get(base).json()["role"] == "staff"
    for r in (
        c.post(f"{base}/staff", json={"login": "new.staff@example.com"}),
        c.delete(f"{base}/staff/{owner_id}"),
        c.delete(f"{base}/staff/{staff_id}"),
        c.patch(base, json={"description": "改了"}),
        c.put(f"{base}/logo", files={"logo": ("l.png", png(), "image/png")}),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("who", ["stranger", "rival"])
def test_strangers_and_other_shops_owners_get_404(scene, who):
    base = f"/api/v1/merchant/shops/{scene['shop']}"
    staff_id = scene["users"]["staff"].id
    c = scene[who]
    for r in (
        c.get(base),
        c.get(f"{base}/staff"),
        c.post(f"{base}/staff", json={"login": "new.staff@example.com"}),
        c.delete(f"{base}/staff/{staff_id}"),
        c.patch(base, json={"description": "x"}),
        c.put(f"{base}/logo", files={"logo": ("l.png", png(), "image/png")}),
    ):
        assert r.status_code == 404, r.text
    assert scene["owner"].get(f"/api/v1/merchant/shops/{scene['other']}").status_code == 404
    assert scene["owner"].get("/api/v1/merchant/shops/99999/staff").status_code == 404
    assert scene["owner"].get("/api/v1/merchant/shops/abc/staff").status_code == 422


def test_owner_edits_description_and_logo(db, scene, media_files):
    base = f"/api/v1/merchant/shops/{scene['shop']}"
    c = scene["owner"]
    r = c.patch(base, json={"description": "  原创设计女装  "})
    assert r.status_code == 200 and r.json()["description"] == "原创设计女装"
    assert c.patch(base, json={"description": "字" * 501}).status_code == 422
    r = c.put(f"{base}/logo", files={"logo": ("l.gif", b"GIF89a nope", "image/gif")})
    assert r.status_code == 422 and media_files() == []
    r = c.put(f"{base}/logo", files={"logo": ("l.png", png(), "image/png")})
    assert r.status_code == 200 and r.json()["logo_url"].startswith("/media/shops/")
    db.rollback()
    shop = db.get(Shop, scene["shop"])
    assert shop.description == "原创设计女装" and shop.logo_path in r.json()["logo_url"]


def test_my_shops_lists_owned_and_staffed_shops(scene):
    assert [
        (s["name"], s["role"]) for s in scene["staff"].get("/api/v1/merchant/shops").json()
    ] == [("花间衣橱", "staff")]
    assert scene["stranger"].get("/api/v1/merchant/shops").json() == []


def test_reads_for_other_domains(db, scene):
    shop_id, other_id = scene["shop"], scene["other"]
    assert service.get_shop(db, shop_id).name == "花间衣橱"
    with pytest.raises(NotFound):
        service.get_shop(db, 424242)
    found = service.shops_by_ids(db, [shop_id, other_id, 424242])
    assert set(found) == {shop_id, other_id}
    assert service.shops_by_ids(db, []) == {}
    db.get(Shop, other_id).is_active = False
    db.commit()
    assert [s.id for s in service.list_shops(db)] == [shop_id]
    assert service.is_member(db, shop_id, scene["users"]["staff"].id)
    assert not service.is_member(db, other_id, scene["users"]["staff"].id)


def test_staff_list_costs_the_same_queries_for_more_members(scene, make_user, count_queries):
    base = f"/api/v1/merchant/shops/{scene['shop']}/staff"
    with count_queries() as few:
        assert len(scene["owner"].get(base).json()) == 2
    for i in range(4):
        make_user(f"1381111002{i}")
        assert scene["owner"].post(base, json={"login": f"1381111002{i}"}).status_code == 201
    with count_queries() as many:
        assert len(scene["owner"].get(base).json()) == 6
    assert many.count == few.count, many.statements

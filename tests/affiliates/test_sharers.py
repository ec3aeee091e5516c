"""Sharers (分享员): invited by account or by an invite QR code valid 15 days, accepted by the
person, never the shop's staff, not unbound within a day of binding; every refusal writes
nothing. Through the service and the pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import actor_for, make_shop
from xiaodian.affiliates import sharers
from xiaodian.affiliates.models import SharerInvite, ShopSharer
from xiaodian.errors import Conflict, NotFound, PermissionDenied


@pytest.fixture
def shop(database: Any, make_user: Any) -> dict[str, Any]:
    owner, staff = make_user(login="13600000201"), make_user(login="13600000202")
    with database.session() as db:
        made = make_shop(db, owner, name="山野茶铺", staff=staff)
        shop_id = made.id
    return {
        "id": shop_id,
        "owner": actor_for(owner, {shop_id: "owner"}),
        "staff": staff,
    }


def _counts(database: Any) -> tuple[int, int]:
    with database.session(write=False) as db:
        return (
            db.scalar(select(func.count()).select_from(SharerInvite)) or 0,
            db.scalar(select(func.count()).select_from(ShopSharer)) or 0,
        )


def test_an_account_invited_accepts_and_is_bound(
    database: Any, shop: dict[str, Any], make_user: Any, clock: Any
) -> None:
    friend = make_user(login="13900000201", display_name="小林")
    with database.session() as db:
        invite = sharers.invite_account(db, shop["owner"], shop["id"], login="13900000201")
        code = invite.code
    with database.session() as db:  # once is enough
        with pytest.raises(Conflict) as twice:
            sharers.invite_account(db, shop["owner"], shop["id"], login="13900000201")
        assert twice.value.code == "invited"
    stranger = make_user()
    with database.session() as db, pytest.raises(NotFound):
        sharers.accept(db, actor_for(stranger), code)  # meant for someone else
    with database.session() as db:
        assert [i.shop_name for i in sharers.my_invites(db, actor_for(friend))] == ["山野茶铺"]
        sharers.accept(db, actor_for(friend), code)
    with database.session() as db:
        rows = sharers.shop_sharers(db, shop["owner"], shop["id"])
        assert [r.name for r in rows] == ["小林"]
        assert sharers.my_invites(db, actor_for(friend)) == []
        with pytest.raises(Conflict):
            sharers.accept(db, actor_for(friend), code)
    assert _counts(database) == (1, 1)


def test_an_invite_code_is_for_anyone_for_15_days(
    database: Any, shop: dict[str, Any], make_user: Any, clock: Any
) -> None:
    with database.session() as db:
        code = sharers.invite_code(db, shop["owner"], shop["id"]).code
    first, second, late = make_user(), make_user(), make_user()
    for person in (first, second):
        with database.session() as db:
            sharers.accept(db, actor_for(person), code)
    clock.advance(timedelta(days=15, seconds=1))
    with database.session() as db, pytest.raises(Conflict) as expired:
        sharers.accept(db, actor_for(late), code)
    assert expired.value.code == "invite_expired"
    with database.session() as db, pytest.raises(NotFound):
        sharers.accept(db, actor_for(late), "no-such-code")
    assert _counts(database) == (1, 2)


def test_staff_cannot_be_the_shops_sharers(
    database: Any, shop: dict[str, Any], make_user: Any
) -> None:
    with database.session() as db, pytest.raises(PermissionDenied):
        sharers.invite_account(db, shop["owner"], shop["id"], login="13600000202")
    with database.session() as db:
        code = sharers.invite_code(db, shop["owner"], shop["id"]).code
    with database.session() as db, pytest.raises(PermissionDenied) as refused:
        sharers.accept(db, actor_for(shop["staff"], {shop["id"]: "staff"}), code)
    assert refused.value.code == "staff_cannot_share"
    assert _counts(database) == (1, 0)


def test_not_unbound_within_a_day_then_by_the_shop_or_the_sharer(
    database: Any, shop: dict[str, Any], make_user: Any, clock: Any
) -> None:
    with database.session() as db:
        code = sharers.invite_code(db, shop["owner"], shop["id"]).code
    one, two = make_user(), make_user()
    ids = []
    for person in (one, two):
        with database.session() as db:
            ids.append(sharers.accept(db, actor_for(person), code).id)
    with database.session() as db, pytest.raises(Conflict) as soon:
        sharers.unbind(db, shop["owner"], ids[0])
    assert soon.value.code == "too_soon"
    clock.advance(timedelta(days=1))
    other_shop_owner = make_user()
    with database.session() as db:
        other = make_shop(db, other_shop_owner)
        other_actor = actor_for(other_shop_owner, {other.id: "owner"})
    with database.session() as db, pytest.raises(NotFound):
        sharers.unbind(db, other_actor, ids[0])  # not their shop's sharer
    with database.session() as db:
        sharers.unbind(db, shop["owner"], ids[0])
    with database.session() as db:
        sharers.unbind(db, actor_for(two), ids[1])  # the sharer leaves
    with database.session() as db:
        assert sharers.shop_sharers(db, shop["owner"], shop["id"]) == []
        with pytest.raises(Conflict):
            sharers.unbind(db, shop["owner"], ids[0])
    with database.session() as db:  # and can be invited again
        sharers.accept(db, actor_for(one), code)


def test_the_pages(database: Any, shop: dict[str, Any], make_user: Any, app: Any) -> None:
    from fastapi.testclient import TestClient

    from xiaodian.accounts import service as accounts

    owner_page = TestClient(app)
    with database.session() as db:
        owner_token = accounts.issue_token(db, user_id=shop["owner"].user_id, kind="cookie")
    owner_page.cookies.set("xd_session", owner_token)
    page = owner_page.get(f"/merchant/shops/{shop['id']}/sharers")
    assert page.status_code == 200 and "分享员" in page.text
    csrf = owner_page.cookies.get("xd_csrf") or ""
    made = owner_page.post(
        f"/merchant/shops/{shop['id']}/sharers/code",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert made.status_code == 303
    with database.session(write=False) as db:
        invite = db.scalars(select(SharerInvite)).one()
    qr = owner_page.get(f"/merchant/shops/{shop['id']}/sharers/invites/{invite.id}/qr.png")
    assert qr.status_code == 200 and qr.content[:8] == b"\x89PNG\r\n\x1a\n"
    staff_try = owner_page.post(
        f"/merchant/shops/{shop['id']}/sharers/invite",
        data={"csrf_token": csrf, "login": "13600000202"},
    )
    assert staff_try.status_code == 403 and "店铺员工不能成为本店分享员" in staff_try.text
    anonymous = TestClient(app).get(f"/sharers/join/{invite.code}")
    assert anonymous.status_code == 200 and "山野茶铺 邀请你成为分享员" in anonymous.text
    assert TestClient(app).get("/sharers/join/nope").status_code == 404
    assert _counts(database) == (1, 0)

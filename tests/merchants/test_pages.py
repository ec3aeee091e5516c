"""The HTML flow in a browser-like client: apply, review, correct, approve, run the shop."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.factories import make_shop
from tests.merchants.conftest import code, png
from xiaodian.merchants.models import MerchantApplication, ShopMember


def _form(c: Any, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": c.cookies.get("xd_csrf", ""), **fields}


def _fields(category: int, **overrides: Any) -> dict[str, Any]:
    data = {
        "entity_type": "individual_business",
        "legal_name": "普洱市思茅区山野茶叶店",
        "license_no": code("92530802MA6N4TQ53"),
        "contact_name": "岩应",
        "contact_phone": "138 1234 5678",
        "main_category_id": str(category),
        "shop_name": "山野茶铺",
    }
    data.update(overrides)
    return data


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/merchant/apply", "/merchant", "/ops", "/ops/applications"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_apply_review_resubmit_approve_in_the_browser(
    db, make_user, login_client, category, media_files
):
    applicant = login_client(make_user(display_name="岩应"))
    operator = login_client(make_user("ops@example.com", operator=True))

    page = applicant.get("/merchant/apply", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "统一社会信用代码" in page.text
    assert 'name="csrf_token"' in page.text

    # Without the CSRF token the form is refused.
    r = applicant.post("/merchant/apply", data=_fields(category), follow_redirects=False)
    assert r.status_code == 403

    # Bad input re-renders the form with the message and what was typed.
    r = applicant.post(
        "/merchant/apply",
        data=_form(applicant, **_fields(category, license_no="92530802MA6N4TQ5IX")),
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422
    assert "no I, O, S, V or Z" in r.text and "普洱市思茅区山野茶叶店" in r.text

    # A non-image licence: 422, the form again, nothing stored.
    r = applicant.post(
        "/merchant/apply",
        data=_form(applicant, **_fields(category)),
        files={
            "logo": ("logo.png", png(), "image/png"),
            "license_image": ("licence.pdf", b"%PDF-1.4", "application/pdf"),
        },
    )
    assert r.status_code == 422 and media_files() == []

    r = applicant.post(
        "/merchant/apply",
        data=_form(applicant, **_fields(category)),
        files={
            "logo": ("logo.png", png(), "image/png"),
            "license_image": ("", b"", "application/octet-stream"),  # left empty
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/merchant/apply"
    page = applicant.get("/merchant/apply", headers={"Accept-Language": "en"})
    assert "Under review" in page.text and "Submit application" not in page.text
    db.rollback()
    application_id = db.scalar(select(MerchantApplication.id))

    # The operator sees it waiting, and must give a reason to reject.
    dash = operator.get("/ops", headers={"Accept-Language": "en"})
    assert dash.status_code == 200 and "/ops/products/review" in dash.text
    queue = operator.get("/ops/applications")
    assert "山野茶铺" in queue.text and f"/ops/applications/{application_id}" in queue.text
    detail = operator.get(f"/ops/applications/{application_id}", headers={"Accept-Language": "en"})
    assert "Approve and open the shop" in detail.text and "13812345678" in detail.text
    r = operator.post(
        f"/ops/applications/{application_id}/reject",
        data=_form(operator, reason="  "),
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422 and "why the application is rejected" in r.text
    r = operator.post(
        f"/ops/applications/{application_id}/reject",
        data=_form(operator, reason="请上传营业执照照片。"),
        follow_redirects=False,
    )
    assert r.status_code == 303

    # The applicant reads the reason and corrects the application.
    page = applicant.get("/merchant/apply", headers={"Accept-Language": "en"})
    assert "请上传营业执照照片。" in page.text
    assert f"/merchant/apply/{application_id}/resubmit" in page.text
    assert "普洱市思茅区山野茶叶店" in page.text  # the form is filled in
    r = applicant.post(
        f"/merchant/apply/{application_id}/resubmit",
        data=_form(applicant, **_fields(category)),
        files={"license_image": ("licence.png", png((400, 300), "white"), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert len(media_files()) == 4

    r = operator.post(
        f"/ops/applications/{application_id}/approve",
        data=_form(operator),
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = operator.post(
        f"/ops/applications/{application_id}/approve",
        data=_form(operator),
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 409 and "already been decided" in r.text

    page = applicant.get("/merchant/apply")
    db.rollback()
    shop_id = db.scalar(select(ShopMember.shop_id))
    assert f"/merchant/shops/{shop_id}" in page.text
    r = applicant.get("/merchant", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/merchant/shops/{shop_id}"
    overview = applicant.get(f"/merchant/shops/{shop_id}")
    assert overview.status_code == 200 and "山野茶铺" in overview.text


def test_shop_settings_and_staff_pages(db, make_user, login_client):
    owner_user = make_user("13822220001", display_name="店主")
    staff_user = make_user("13822220002", display_name="小王")
    helper = make_user("13822220003", display_name="小李")
    stranger_user = make_user("13822220004")
    shop = make_shop(db, owner_user, name="数码小站", staff=staff_user)
    shop_id = shop.id
    db.rollback()
    owner, staff, stranger = (
        login_client(owner_user),
        login_client(staff_user),
        login_client(stranger_user),
    )
    en = {"Accept-Language": "en"}

    r = owner.post(
        f"/merchant/shops/{shop_id}/settings",
        data=_form(owner, description="正品保障，48小时发货"),
        files={"logo": ("logo.png", png(), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "正品保障，48小时发货" in owner.get(f"/merchant/shops/{shop_id}/settings").text
    r = owner.post(
        f"/merchant/shops/{shop_id}/settings",
        data=_form(owner, description="x"),
        files={"logo": ("logo.png", b"nope", "image/png")},
        headers=en,
    )
    assert r.status_code == 422 and "Only JPEG, PNG" in r.text

    r = owner.post(
        f"/merchant/shops/{shop_id}/staff",
        data=_form(owner, login="13899990000"),
        headers=en,
    )
    assert r.status_code == 404 and "No account" in r.text  # the form, with the message
    r = owner.post(
        f"/merchant/shops/{shop_id}/staff",
        data=_form(owner, login="13822220003"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = owner.get(f"/merchant/shops/{shop_id}/staff")
    assert "小李" in page.text and f"/staff/{helper.id}/remove" in page.text
    r = owner.post(
        f"/merchant/shops/{shop_id}/staff/{owner_user.id}/remove",
        data=_form(owner),
        headers=en,
    )
    assert r.status_code == 409 and "owner cannot be removed" in r.text
    r = owner.post(
        f"/merchant/shops/{shop_id}/staff/{helper.id}/remove",
        data=_form(owner),
        follow_redirects=False,
    )
    assert r.status_code == 303

    # Staff see the list without the buttons, and are refused if they post anyway.
    page = staff.get(f"/merchant/shops/{shop_id}/staff")
    assert page.status_code == 200 and "/remove" not in page.text
    r = staff.post(f"/merchant/shops/{shop_id}/staff", data=_form(staff, login="13822220003"))
    assert r.status_code == 403
    r = staff.post(f"/merchant/shops/{shop_id}/settings", data=_form(staff, description="x"))
    assert r.status_code == 403

    for path in ("", "/staff", "/settings"):
        assert stranger.get(f"/merchant/shops/{shop_id}{path}").status_code == 404
    r = stranger.post(f"/merchant/shops/{shop_id}/staff", data=_form(stranger, login="x@y.cn"))
    assert r.status_code == 404
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ShopMember)) == 2


def test_operator_pages_are_for_operators_only(make_user, login_client, db):
    buyer = login_client(make_user())
    for path in ("/ops", "/ops/applications", "/ops/applications/1"):
        assert buyer.get(path).status_code == 403, path
    r = buyer.post("/ops/applications/1/approve", data=_form(buyer))
    assert r.status_code == 403
    operator = login_client(make_user("ops@example.com", operator=True))
    assert operator.get("/ops/applications/999").status_code == 404
    assert operator.get("/ops/applications?status=bogus").status_code == 422
    assert operator.get("/ops/applications?status=all").status_code == 200


def test_console_home_lists_several_shops_or_invites_to_apply(db, make_user, login_client):
    user = make_user()
    c = login_client(user)
    page = c.get("/merchant", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "/merchant/apply" in page.text
    make_shop(db, user, name="甲店")
    make_shop(db, user, name="乙店")
    db.rollback()
    page = c.get("/merchant", follow_redirects=False)
    assert page.status_code == 200 and "甲店" in page.text and "乙店" in page.text

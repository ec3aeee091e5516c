"""Operations in a real browser.

An operator records a violation with points off; the shop's score drops; the merchant
appeals with a photo; the appeal waits in the arbitrators' queue, where another operator
claims it and accepts it; the penalty is reversed and the points come back.

Two operators open the same case and press "claim": one holds it, the other is told who
does (the race itself, with threads against the database, is tests/cases); the holder
hands it over to the other."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.factories import make_shop
from xiaodian.accounts import service as accounts
from xiaodian.cases import service as cases_service
from xiaodian.cases.models import Case
from xiaodian.health import service as health_service

pytestmark = pytest.mark.e2e


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.png"
    image = Image.new("RGB", (240, 180), (250, 248, 240))
    for x in range(20, 220):
        image.putpixel((x, 90), (40, 40, 40))
    buf = BytesIO()
    image.save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def _score(live_server: LiveServer, shop_id: int) -> int | None:
    with live_server.database.session(write=False) as db:
        found = health_service.current(db, shop_id=shop_id)
        return found.score if found is not None else None


def test_a_violation_is_appealed_and_the_points_come_back(
    live_server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    with live_server.database.session() as db:
        owner = accounts.register(db, login="13600000111", password="merchant123")
        shop = make_shop(db, owner, name="青山竹器")
        accounts.create_operator(
            db, login="ops-a@example.com", password="operator123", display_name="运营甲"
        )
        accounts.create_operator(
            db, login="ops-b@example.com", password="operator123", display_name="运营乙"
        )
        shop_id = shop.id

    recorder = new_page(phone=False)
    sign_in(recorder, "ops-a@example.com", "operator123")
    recorder.goto("/ops/violations")
    form = recorder.locator("[data-testid=record-form]")
    form.locator("input[name=shop_id]").fill(str(shop_id))
    form.locator("select[name=rule]").select_option("false_advertising")
    form.locator("textarea[name=evidence_text]").fill("商品详情页宣称“百年老竹”，无任何依据。")
    form.locator("select[name=penalty]").select_option("points")
    form.locator("input[name=points]").fill("12")
    form.locator("button[type=submit]").click()
    recorder.wait_for_url("**/ops/violations/*")
    violation_path = recorder.url.split("//", 1)[1].split("/", 1)[1]
    violation_id = int(violation_path.rsplit("/", 1)[1])
    lowered = _score(live_server, shop_id)
    assert lowered is not None and lowered <= 88
    assert recorder.locator("[data-testid=health-score]").inner_text() == str(lowered)

    merchant = new_page()
    sign_in(merchant, "13600000111", "merchant123")
    merchant.goto(f"/merchant/shops/{shop_id}/due")  # what is due: the violation, with its deadline
    assert "待整改或申诉的违规" in merchant.locator("[data-testid=due]").inner_text()
    shot(merchant, "merchant-due")
    merchant.goto(f"/merchant/shops/{shop_id}/violations/{violation_id}")
    appeal = merchant.locator("[data-testid=appeal-form]")
    appeal.locator("textarea[name=text]").fill("“百年老竹”是品牌名，附商标注册证。")
    appeal.locator("input[name=photos]").set_input_files(str(_photo(tmp_path)))
    appeal.locator("button[type=submit]").click()
    merchant.wait_for_load_state()
    assert "申诉" in merchant.locator("[data-testid=violation-status]").inner_text()
    shot(merchant, "violation-appealed")

    decider = new_page(phone=False)
    sign_in(decider, "ops-b@example.com", "operator123")
    decider.goto("/ops")
    assert decider.locator("[data-testid=queues] tr[data-queue=appeals] b").inner_text() == "1"
    decider.goto("/ops/queues/appeals")
    decider.locator("[data-testid=queue] a").first.click()
    decider.locator("[data-testid=claim]").click()
    decider.wait_for_url("**/ops/cases/*?done=claimed")
    assert decider.locator("[data-testid=owner]").inner_text() == "运营乙"
    decider.goto(f"/ops/violations/{violation_id}")
    decision = decider.locator("[data-testid=decision-form]")
    decision.locator("textarea[name=note]").fill("商标注册证属实，撤销处罚。")
    decision.locator("button[value=accept]").click()
    decider.wait_for_load_state()
    restored = _score(live_server, shop_id)
    assert restored is not None and restored >= lowered + 12
    decider.goto(f"/ops/violations/{violation_id}")
    assert decider.locator("[data-testid=health-score]").inner_text() == str(restored)
    shot(decider, "violation-reversed")
    with live_server.database.session(write=False) as db:
        open_cases = db.scalars(select(Case).where(Case.closed_at.is_(None))).all()
        assert [c.queue for c in open_cases] == []  # the shop's and the arbitrators' closed


def test_two_operators_claim_one_case_and_one_holds_it(
    live_server: LiveServer, new_page: Any
) -> None:
    with live_server.database.session() as db:
        for login, name in (("ops-c@example.com", "运营丙"), ("ops-d@example.com", "运营丁")):
            accounts.create_operator(db, login=login, password="operator123", display_name=name)
        cases_service.open_case(
            db, "shop_applications", "application:77", title="山茶花开（开店申请）", link="/ops"
        )
        db.commit()
        case_id = db.scalar(select(Case.id))

    first, second = new_page(phone=False), new_page(phone=False)
    sign_in(first, "ops-c@example.com", "operator123")
    sign_in(second, "ops-d@example.com", "operator123")
    for page in (first, second):
        page.goto(f"/ops/cases/{case_id}")
        page.locator("[data-testid=claim]").wait_for()  # both see it unclaimed
    first.locator("[data-testid=claim]").click()
    second.locator("[data-testid=claim]").click()
    first.wait_for_url("**?done=claimed")
    assert first.locator("[data-testid=owner]").inner_text() == "运营丙"
    error = second.locator("[data-testid=case-error]")
    assert "运营丙" in error.inner_text() and "已认领" in error.inner_text()
    assert second.locator("[data-testid=owner]").inner_text() == "运营丙"
    shot(second, "case-claimed-by-another")
    # the holder hands it over to the colleague, who now holds it
    first.select_option("select[name=to]", label="运营丁")
    first.click("form[action$=hand-over] button")
    first.wait_for_url("**?done=handed")
    assert first.locator("[data-testid=owner]").inner_text() == "运营丁"
    assert "转交 · 运营丙" in first.locator("[data-testid=case-log]").inner_text()

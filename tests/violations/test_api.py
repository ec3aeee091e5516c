"""The violations' JSON API and pages: record with photos, appeal, decide; and the bad
input a client can send (unknown and oversized ids, wrong types, non-images, a second
appeal, another shop's appeal, deciding one's own) answered 4xx with nothing written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.violations.conftest import World, png
from xiaodian.violations.models import Appeal, Violation

BASE = "/api/v1/ops/violations"


def _counts(w: World) -> tuple[int, int]:
    w.db.rollback()
    return (
        w.db.scalar(select(func.count()).select_from(Violation)) or 0,
        w.db.scalar(select(func.count()).select_from(Appeal)) or 0,
    )


def _record(w: World, ops: Any, **fields: Any) -> Any:
    data = {
        "shop_id": str(w.shop_id),
        "rule": "false_advertising",
        "penalty": "points",
        "points": "5",
        "evidence_text": "夸大宣传",
        **fields,
    }
    return ops.post(BASE, data=data, files=[("photos", ("a.png", png(), "image/png"))])


def test_the_journey_through_the_api(world: World, api_client: Any, other_operator: Any) -> None:
    ops, other, staff = (
        api_client(world.operator),
        api_client(other_operator),
        api_client(world.staff),
    )
    r = _record(world, ops)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["points"] == 5 and len(v["evidence_photos"]) == 1 and v["status"] == "open"
    mine = f"/api/v1/merchant/shops/{world.shop_id}/violations"
    assert [x["id"] for x in staff.get(mine).json()] == [v["id"]]
    r = staff.post(
        f"{mine}/{v['id']}/appeal",
        data={"text": "有证据"},
        files=[("photos", ("b.png", png(), "image/png"))],
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "appealed"
    r = ops.post(f"{BASE}/{v['id']}/decision", json={"accept": True, "note": "同意"})
    assert r.status_code == 403  # their own violation
    r = other.post(f"{BASE}/{v['id']}/decision", json={"accept": True, "note": "同意"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reversed"
    assert [e["action"] for e in r.json()["events"]] == ["recorded", "appealed", "accepted"]
    # the pages
    page = api_client(world.staff).get(f"/merchant/shops/{world.shop_id}/violations/{v['id']}")
    assert page.status_code == 200 and "申诉" in page.text
    assert other.get(f"/ops/violations/{v['id']}").status_code == 200
    assert other.get("/ops/violations").status_code == 200


def test_bad_input(world: World, api_client: Any, settings: Any) -> None:
    ops, staff = api_client(world.operator), api_client(world.staff)
    v = _record(world, ops).json()
    before = _counts(world)
    mine = f"/api/v1/merchant/shops/{world.shop_id}/violations"
    big = b"\x89PNG" + b"0" * (settings.max_image_bytes + 1)
    for response, status in (
        (ops.get(f"{BASE}/999999"), 404),
        (ops.get(f"{BASE}/{2**31}"), 404),
        (ops.get(f"{BASE}/{2**63}"), 404),
        (ops.get(f"{BASE}/abc"), 422),
        (_record(world, ops, shop_id=str(2**63)), 404),
        (_record(world, ops, points="many"), 422),
        (_record(world, ops, penalty="jail"), 422),
        (
            staff.post(
                BASE, data={"shop_id": "1", "rule": "x", "penalty": "x", "evidence_text": "x"}
            ),
            403,
        ),
        (ops.post(f"{BASE}/{v['id']}/decision", json={"accept": "yes", "note": "x"}), 422),
        (ops.post(f"{BASE}/{v['id']}/decision", json={"accept": True, "note": "x"}), 409),
        (
            staff.post(
                f"{mine}/{v['id']}/appeal",
                data={"text": "x"},
                files=[("photos", ("a.txt", b"hello", "text/plain"))],
            ),
            422,
        ),
        (
            staff.post(
                f"{mine}/{v['id']}/appeal",
                data={"text": "x"},
                files=[("photos", ("a.png", big, "image/png"))],
            ),
            413,
        ),
        (
            staff.post(
                f"{mine}/{v['id']}/appeal",
                data={"text": "x"},
                files=[("photos", ("a.png", png(), "image/png"))] * 10,
            ),
            422,
        ),
        (
            api_client(world.other_owner).post(
                f"/api/v1/merchant/shops/{world.other_shop_id}/violations/{v['id']}/appeal",
                data={"text": "x"},
            ),
            404,
        ),
        (api_client(world.other_owner).post(f"{mine}/{v['id']}/appeal", data={"text": "x"}), 404),
        (staff.post(f"{mine}/{2**31}/appeal", data={"text": "x"}), 404),
    ):
        assert response.status_code == status, (response.status_code, status, response.text)
        assert _counts(world) == before
    assert staff.post(f"{mine}/{v['id']}/appeal", data={"text": "有证据"}).status_code == 201
    second = staff.post(f"{mine}/{v['id']}/appeal", data={"text": "再来"})
    assert second.status_code == 409


def test_an_appeal_past_its_deadline(world: World, api_client: Any, clock: Any) -> None:
    from datetime import timedelta

    v = _record(world, api_client(world.operator)).json()
    clock.advance(timedelta(days=3, minutes=1))
    r = api_client(world.staff).post(
        f"/api/v1/merchant/shops/{world.shop_id}/violations/{v['id']}/appeal", data={"text": "x"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "appeal_deadline_passed"

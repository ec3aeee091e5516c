"""External products (种草 elsewhere): a creator's card of a product on an allowed platform
records the click and redirects to the address stored with it; any other domain, a
look-alike, credentials or another scheme is refused and nothing is written; the redirect
never takes an address from the request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import actor_for
from xiaodian.affiliates import external
from xiaodian.affiliates.models import ExternalCard
from xiaodian.errors import InvalidInput, NotFound, PermissionDenied

GOOD = "https://item.jd.com/100012043978.html"


def _count(database: Any) -> int:
    with database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(ExternalCard)) or 0


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/jd.com",
        "https://jd.com.evil.example.com/item",
        "https://notjd.com/item",
        "javascript:alert(1)",
        "ftp://item.jd.com/x",
        "https://user:pass@item.jd.com/x",
        "https://item.jd.com:8443/x",
        "//item.jd.com/x",
        "",
    ],
)
def test_other_addresses_are_refused(database: Any, make_user: Any, url: str) -> None:
    creator = actor_for(make_user(creator=True), creator=True)
    with database.session() as db, pytest.raises(InvalidInput):
        external.add_card(db, creator, title="同款", url=url)
    assert _count(database) == 0


def test_a_card_counts_its_clicks_and_redirects_to_its_address(
    database: Any, make_user: Any, client: Any, login_client: Any
) -> None:
    user = make_user(creator=True, display_name="茶小白")
    creator = actor_for(user, creator=True)
    with database.session() as db:
        card = external.add_card(db, creator, title="京东同款", url=GOOD, price_fen=9900)
        tmall = external.add_card(
            db, creator, title="天猫同款", url="https://detail.tmall.com/item.htm?id=1"
        )
    assert (card.host, tmall.host) == ("item.jd.com", "detail.tmall.com")
    page = client.get(f"/showcase/{user.id}")
    assert "京东同款" in page.text and f'href="/x/{card.id}"' in page.text
    for _ in range(2):
        hop = client.get(f"/x/{card.id}", follow_redirects=False)
        assert hop.status_code == 302 and hop.headers["location"] == GOOD
    with database.session(write=False) as db:
        assert db.get(ExternalCard, card.id).clicks == 2
    # the address comes from the card, never from the request
    hop = client.get(f"/x/{card.id}?url=https://evil.example.com", follow_redirects=False)
    assert hop.headers["location"] == GOOD
    assert client.get("/x/999999", follow_redirects=False).status_code == 404
    assert client.get(f"/x/{2**40}", follow_redirects=False).status_code in (404, 422)
    with database.session() as db, pytest.raises(PermissionDenied):
        external.add_card(db, actor_for(make_user()), title="同款", url=GOOD)
    with database.session() as db, pytest.raises(NotFound):
        external.remove_card(db, actor_for(make_user()), card.id)  # not theirs
    browser = login_client(user)
    bad = browser.post(
        "/me/showcase/external",
        data={
            "csrf_token": browser.cookies.get("xd_csrf", ""),
            "title": "x",
            "url": "https://evil.example.com/",
        },
    )
    assert bad.status_code == 422 and "evil.example.com" in bad.text
    assert _count(database) == 2

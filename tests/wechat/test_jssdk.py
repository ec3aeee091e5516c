"""The JS-SDK: WeChat's signature, the config endpoint, and one refresh in a burst."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from xiaodian.wechat import jssdk, service
from xiaodian.wechat.models import Credential, SandboxCredential


def test_signature_matches_wechats_published_example() -> None:
    # The example of WeChat's JS-SDK documentation (附录1-JS-SDK使用权限签名算法).
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    assert (
        jssdk.signature(
            ticket=ticket,
            noncestr="Wm3WZYTPz0wzccnW",
            timestamp=1414587457,
            url="http://mp.weixin.qq.com?params=value#fragment",
        )
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    )


def test_the_config_endpoint_signs_the_page(client: Any, db: Any) -> None:
    url = "http://testserver/products/1?from=share#top"
    answer = client.get("/api/v1/wechat/jssdk-config", params={"url": url})
    assert answer.status_code == 200, answer.text
    config = answer.json()
    assert config["appId"] == service.SANDBOX_APP_ID
    assert config["jsApiList"] == ["updateAppMessageShareData", "updateTimelineShareData"]
    ticket = db.scalar(select(Credential.value).where(Credential.kind == "jsapi_ticket"))
    plain = (
        f"jsapi_ticket={ticket}&noncestr={config['nonceStr']}"
        f"&timestamp={config['timestamp']}&url=http://testserver/products/1?from=share"
    )
    assert config["signature"] == hashlib.sha1(plain.encode()).hexdigest()


def test_the_config_endpoint_refuses_other_sites(client: Any) -> None:
    for url in ("https://evil.example/p", "javascript:alert(1)", "/relative"):
        answer = client.get("/api/v1/wechat/jssdk-config", params={"url": url})
        assert answer.status_code == 422, url


def _issued(database: Any, kind: str) -> int:
    with database.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SandboxCredential)
                .where(SandboxCredential.kind == kind)
            )
        )


def test_a_credential_expiring_during_a_burst_is_refreshed_once(
    database: Any, settings: Any, clock: Any
) -> None:
    jssdk.config(database, url="http://testserver/a")
    assert (_issued(database, "access_token"), _issued(database, "jsapi_ticket")) == (1, 1)
    clock.advance(timedelta(hours=1, minutes=56))  # four minutes left: refreshed before
    signatures: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def share_page() -> None:
        try:
            start.wait()
            signatures.append(jssdk.config(database, url="http://testserver/a").signature)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=share_page) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(signatures) == 12
    assert (_issued(database, "access_token"), _issued(database, "jsapi_ticket")) == (2, 2)
    with database.session() as s:
        row = s.scalar(select(Credential).where(Credential.kind == "jsapi_ticket"))
        assert row.expires_at > clock.now() + timedelta(hours=1)


def test_the_sandbox_token_endpoints_answer_as_wechat(client: Any, clock: Any) -> None:
    token = client.get(
        "/sandbox/wechat/cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": service.SANDBOX_APP_ID,
            "secret": service.SANDBOX_SECRET,
        },
    ).json()
    assert token["expires_in"] == 7200
    ticket = client.get(
        "/sandbox/wechat/cgi-bin/ticket/getticket",
        params={"access_token": token["access_token"], "type": "jsapi"},
    ).json()
    assert ticket["errcode"] == 0 and ticket["ticket"]
    clock.advance(timedelta(hours=2, seconds=1))
    expired = client.get(
        "/sandbox/wechat/cgi-bin/ticket/getticket",
        params={"access_token": token["access_token"], "type": "jsapi"},
    ).json()
    assert expired["errcode"] == 42001
    unknown = client.get(
        "/sandbox/wechat/cgi-bin/ticket/getticket", params={"access_token": "x", "type": "jsapi"}
    ).json()
    assert unknown["errcode"] == 40001


def test_the_product_page_sets_its_share_card_only_inside_wechat(
    db: Any, make_user: Any, client: Any, app: Any
) -> None:
    from fastapi.testclient import TestClient

    from tests.factories import make_product, make_shop
    from tests.wechat.conftest import WECHAT_UA

    shop = make_shop(db, make_user())
    product = make_product(db, shop)
    outside = client.get(f"/products/{product.id}")
    assert outside.status_code == 200 and "wechat-share" not in outside.text
    with TestClient(app, headers={"User-Agent": WECHAT_UA}) as phone:
        inside = phone.get(f"/products/{product.id}")
    assert 'id="wechat-share"' in inside.text and product.title in inside.text
    assert "/static/wechat/sandbox-jweixin.js" in inside.text  # the sandbox's JS-SDK
    assert "res.wx.qq.com" not in inside.text


def test_a_signed_in_sharers_product_card_asks_for_their_tracked_link(
    db: Any, make_user: Any, app: Any, database: Any
) -> None:
    """Inside WeChat a signed-in visitor's product page names the product for share.js,
    which makes (or finds) their tracked link and puts it on the card; signed out, the card
    links to the page itself."""
    from fastapi.testclient import TestClient

    from tests.factories import make_product, make_shop
    from tests.wechat.conftest import WECHAT_UA
    from xiaodian.accounts import service as accounts_service

    shop = make_shop(db, make_user())
    product = make_product(db, shop)
    sharer = make_user()
    with database.session() as session:
        token = accounts_service.issue_token(session, user_id=sharer.id)
    with TestClient(app, headers={"User-Agent": WECHAT_UA}) as phone:
        signed_out = phone.get(f"/products/{product.id}")
        signed_in = phone.get(
            f"/products/{product.id}", headers={"Authorization": f"Bearer {token}"}
        )
        made = phone.post(
            "/api/v1/affiliates/links",
            json={"product_id": product.id, "kind": "product"},
            headers={"Authorization": f"Bearer {token}"},
        )

    def card(page: str) -> str:
        return next(line for line in page.splitlines() if 'id="wechat-share"' in line)

    assert "data-product=" not in card(signed_out.text)
    assert f'data-product="{product.id}"' in card(signed_in.text)
    assert made.status_code == 201 and made.json()["url"].startswith("/s/")


def test_the_showcase_and_group_buy_pages_set_their_share_cards(
    db: Any, make_user: Any, app: Any, database: Any
) -> None:
    """A creator's showcase and a group's page (its share link) carry their own cards
    inside WeChat: the showcase's name, the group's price and the places left."""
    from fastapi.testclient import TestClient

    from tests.factories import actor_for, make_address, make_product, make_shop
    from tests.wechat.conftest import WECHAT_UA
    from xiaodian import clock
    from xiaodian.campaigns import groups
    from xiaodian.orders import service as orders_service

    owner = make_user()
    creator = make_user(creator=True, display_name="茶小白")
    leader = make_user()
    shop = make_shop(db, owner)
    product = make_product(db, shop, title="明前龙井", skus=[("罐装", 26800, 5)])
    make_address(db, leader.id)
    shop_id, sku_id, creator_id = shop.id, product.skus[0].id, creator.id
    db.commit()
    with database.session() as session:
        offer = groups.create_offer(
            session,
            actor_for(owner, {shop_id: "owner"}),
            shop_id,
            groups.OfferInput(sku_id=sku_id, price_fen=19900, size=3),
        )
    with database.session() as session:
        opened = groups.open_group(session, actor_for(leader), offer.id)
    with database.session() as session:
        order = orders_service.get_order_by_no(session, order_no=opened.order_no)
        orders_service.mark_paid(
            session, order_ids=[order.id], paid_at=clock.now(), payment_ref="XDCARD1"
        )
        session.commit()

    def card(page: str) -> str:
        return next(line for line in page.splitlines() if 'id="wechat-share"' in line)

    with TestClient(app, headers={"User-Agent": WECHAT_UA}) as phone:
        showcase = phone.get(f"/showcase/{creator_id}")
        group = phone.get(f"/groups/{opened.group_id}")
    assert showcase.status_code == 200 and "茶小白" in card(showcase.text)
    assert group.status_code == 200
    assert "明前龙井" in card(group.text) and "¥199.00" in card(group.text)
    assert "还差 2 人" in card(group.text)  # the places left

"""JSAPI payment inside WeChat, through the sandbox's WeixinJSBridge stand-in."""

from __future__ import annotations

import json
import re
from base64 import b64decode, b64encode
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from tests.payments.conftest import Poster, Shop, order_state, place
from tests.wechat.conftest import WECHAT_UA
from xiaodian.accounts import service as accounts_service
from xiaodian.payments.models import Payment, PaymentStatus, SandboxTrade
from xiaodian.payments.providers.sandbox import load_keys


def _link(database: Any, user: Any, openid: str = "o" + "a" * 27) -> str:
    who = accounts_service.WeChatUser(app_id="wxd678efh567hg6787", openid=openid)
    with database.session() as s:
        accounts_service.link_wechat(s, who, login=user.login_name, password="secret123")
        s.commit()
    return openid


def _params(page: str) -> dict[str, str]:
    match = re.search(r'<script type="application/json" id="jsapi-params">(.*?)</script>', page)
    assert match, page
    return dict(json.loads(match.group(1)))


def _message(params: dict[str, str]) -> bytes:
    """WeChat Pay's JSAPI signing string, written out from its documentation."""
    return (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    ).encode()


def _inside(browser: Any) -> Any:
    browser.headers["User-Agent"] = WECHAT_UA
    return browser


def _post(browser: Any, params: dict[str, str]) -> Any:
    headers = {"X-CSRF-Token": browser.cookies.get("xd_csrf", ""), "Accept": "application/json"}
    return browser.post("/sandbox/wechat/pay", json=params, headers=headers)


@pytest.fixture
def jsapi(db: Any, database: Any, scene: Shop, login_client: Any) -> Any:
    _link(database, scene.buyer)
    order = place(db, scene)
    browser = _inside(login_client(scene.buyer))
    page = browser.get(f"/pay?orders={order.order_no}")
    assert page.status_code == 200, page.text
    assert "sandbox-bridge.js" in page.text  # the stand-in, in sandbox mode only
    return order, browser, _params(page.text)


def test_jsapi_pays_the_order_through_the_bridge(
    jsapi: Any, db: Any, settings: Any, sandbox_poster: Poster
) -> None:
    order, browser, params = jsapi
    assert params["signType"] == "RSA" and params["package"].startswith("prepay_id=")
    # the paySign verifies with the merchant's public key, computed here independently
    merchant = serialization.load_pem_private_key(
        load_keys(Path(settings.data_dir) / "sandbox").merchant_private_pem.encode(), None
    )
    assert isinstance(merchant, rsa.RSAPrivateKey)
    merchant.public_key().verify(
        b64decode(params["paySign"]), _message(params), padding.PKCS1v15(), hashes.SHA256()
    )
    answer = _post(browser, params)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"err_msg": "get_brand_wcpay_request:ok"}
    assert sandbox_poster.answers == [204]  # the notification, as for the other methods
    db.rollback()
    assert order_state(db, order.order_no)[0] == "paid"
    trade = db.scalar(select(SandboxTrade))
    assert trade.trade_type == "JSAPI" and trade.payer_openid == "o" + "a" * 27


def test_a_pay_sign_made_with_another_key_is_refused(
    jsapi: Any, db: Any, sandbox_poster: Poster
) -> None:
    _order, browser, params = jsapi
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        **params,
        "paySign": b64encode(
            other.sign(_message(params), padding.PKCS1v15(), hashes.SHA256())
        ).decode(),
    }
    answer = _post(browser, forged)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "bad_pay_sign"
    tampered = {**params, "timeStamp": str(int(params["timeStamp"]) + 1)}
    assert _post(browser, tampered).status_code == 422
    assert _post(browser, {**params, "paySign": "not base64!"}).status_code == 422
    assert _post(browser, {"appId": 1}).status_code == 422
    db.rollback()
    assert db.scalar(select(SandboxTrade.state)).value == "NOTPAY"
    assert db.scalar(select(Payment.status)) == PaymentStatus.OPEN
    assert sandbox_poster.calls == []


def test_someone_elses_payment_is_not_found(
    jsapi: Any, db: Any, make_user: Any, login_client: Any, sandbox_poster: Poster
) -> None:
    _order, _browser, params = jsapi
    stranger = _inside(login_client(make_user()))
    assert _post(stranger, params).status_code == 404
    db.rollback()
    assert db.scalar(select(Payment.status)) == PaymentStatus.OPEN


def test_outside_wechat_nothing_changes(
    db: Any, database: Any, scene: Shop, login_client: Any
) -> None:
    _link(database, scene.buyer)
    order = place(db, scene)
    browser = login_client(scene.buyer)
    answer = browser.get(f"/pay?orders={order.order_no}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sandbox/cashier/")


def test_inside_wechat_without_an_openid_the_cashier_stays(
    db: Any, scene: Shop, login_client: Any
) -> None:
    order = place(db, scene)
    browser = _inside(login_client(scene.buyer))
    answer = browser.get(f"/pay?orders={order.order_no}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sandbox/cashier/")

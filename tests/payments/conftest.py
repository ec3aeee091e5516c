"""Fixtures for the payments tests: orders to pay, the sandbox's keys, WeChat Pay test keys,
notifications built exactly as WeChat Pay APIv3 builds them, and a poster that delivers the
sandbox's notifications into the TestClient."""

from __future__ import annotations

import json
import secrets
import shutil
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_product, make_shop
from tests.orders.conftest import actor_for, add_address
from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.orders.checkout import checkout
from xiaodian.orders.models import Order
from xiaodian.payments import delivery
from xiaodian.payments.providers import sandbox as sandbox_module
from xiaodian.payments.providers.sandbox import load_keys

TEST_PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000000001"
TEST_MCHID = "1230000109"
TEST_APPID = "wxd678efh567hg6999"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _pub_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True)
class Keys:
    """What the sender of notifications holds, and what it claims to be."""

    platform: rsa.RSAPrivateKey
    apiv3_key: str
    serial: str
    mchid: str
    appid: str
    merchant: rsa.RSAPrivateKey | None = None


def build_notification(
    keys: Keys,
    *,
    event_type: str,
    resource: dict[str, Any],
    original_type: str = "transaction",
    notification_id: str | None = None,
    timestamp: int | None = None,
    serial: str | None = None,
    signing_key: rsa.RSAPrivateKey | None = None,
    apiv3_key: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body exactly as in WeChat Pay APIv3's notification documentation."""
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM((apiv3_key or keys.apiv3_key).encode()).encrypt(
        nonce.encode(), json.dumps(resource).encode(), original_type.encode()
    )
    body = json.dumps(
        {
            "id": notification_id or f"EV-{secrets.token_hex(8)}",
            "create_time": "2026-06-18T10:34:56+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": b64encode(ciphertext).decode(),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
    )
    stamp = str(timestamp if timestamp is not None else int(clock.now().timestamp()))
    header_nonce = secrets.token_hex(16)
    signature = (signing_key or keys.platform).sign(
        f"{stamp}\n{header_nonce}\n{body}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    headers = {
        "Content-Type": "application/json",
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": header_nonce,
        "Wechatpay-Serial": serial or keys.serial,
        "Wechatpay-Signature": b64encode(signature).decode(),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body.encode()


def transaction_resource(
    keys: Keys, out_trade_no: str, total: int, **overrides: Any
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "mchid": keys.mchid,
        "appid": keys.appid,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200001234202606181234567890",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": "2026-06-18T10:34:56+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {
            "total": total,
            "payer_total": total,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    resource.update(overrides)
    return resource


def refund_resource(
    keys: Keys, out_trade_no: str, out_refund_no: str, refund: int, total: int, **over: Any
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "mchid": keys.mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200001234202606181234567890",
        "out_refund_no": out_refund_no,
        "refund_id": "50000000382019052709732678859",
        "refund_status": "SUCCESS",
        "success_time": "2026-06-18T10:40:00+08:00",
        "user_received_account": "支付用户零钱",
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
    }
    resource.update(over)
    return resource


def wechat_refund_answer(
    out_trade_no: str, out_refund_no: str, status: str, **over: Any
) -> dict[str, Any]:
    """An answer of WeChat Pay's refund call or refund query (APIv3), in full."""
    answer: dict[str, Any] = {
        "refund_id": "50000000382019052709732678859",
        "out_refund_no": out_refund_no,
        "transaction_id": "4200001234202606181234567890",
        "out_trade_no": out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": "2026-06-18T10:36:00+08:00",
        "status": status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": 3980,
            "refund": 1500,
            "payer_total": 3980,
            "payer_refund": 1500,
            "settlement_refund": 1500,
            "settlement_total": 3980,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }
    if status == "SUCCESS":
        answer["success_time"] = "2026-06-18T10:40:00+08:00"
    answer.update(over)
    return answer


# --------------------------------------------------------------------------- keys


@pytest.fixture(scope="session")
def sandbox_key_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sandbox-keys") / "sandbox"
    load_keys(directory)
    return directory


@pytest.fixture(autouse=True)
def _sandbox_keys(request: pytest.FixtureRequest, sandbox_key_template: Path) -> None:
    """Copy pre-made sandbox keys into each test's data dir (RSA generation is slow)."""
    if "settings" not in request.fixturenames:
        return
    settings = request.getfixturevalue("settings")
    target = Path(settings.data_dir) / "sandbox"
    if not target.exists():
        shutil.copytree(sandbox_key_template, target)


@pytest.fixture(scope="session")
def wechat_key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("wechat-keys")
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "apiclient_key.pem").write_text(_pem(merchant))
    (directory / "pub_key.pem").write_text(_pub_pem(platform))
    return {
        "dir": directory,
        "platform": platform,
        "merchant": merchant,
        "apiv3_key": "a" * 16 + "B" * 16,
    }


@pytest.fixture(params=["sandbox", "wechatpay"])
def provider_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def use_wechatpay(settings: Any, wechat_key_files: dict[str, Any]) -> Iterator[Any]:
    """Switch the installed settings to WeChat Pay (offline: public-key mode, test keys)."""
    directory = wechat_key_files["dir"]
    configured = settings.model_copy(
        update={
            "payment_provider": "wechatpay",
            "wechatpay_mchid": TEST_MCHID,
            "wechatpay_appid": TEST_APPID,
            "wechatpay_apiv3_key": wechat_key_files["apiv3_key"],
            "wechatpay_cert_serial_no": "444F4864EA9B34415AAAAAAAAAAAAAAAAAAAAAAA",
            "wechatpay_private_key_path": directory / "apiclient_key.pem",
            "wechatpay_public_key_path": directory / "pub_key.pem",
            "wechatpay_public_key_id": TEST_PUBLIC_KEY_ID,
            "public_base_url": "https://shop.example.com",
        }
    )
    previous = settings_module._current
    settings_module.install(configured)
    yield configured
    settings_module._current = previous


@pytest.fixture
def pay_settings(provider_name: str, settings: Any, request: pytest.FixtureRequest) -> Any:
    """The settings for the parametrised provider (installed)."""
    if provider_name == "wechatpay":
        return request.getfixturevalue("use_wechatpay")
    return settings


@pytest.fixture
def keys(pay_settings: Any, wechat_key_files: dict[str, Any]) -> Keys:
    """The keys a genuine notification for the configured provider is made with."""
    if pay_settings.payment_provider == "wechatpay":
        return Keys(
            platform=wechat_key_files["platform"],
            apiv3_key=wechat_key_files["apiv3_key"],
            serial=TEST_PUBLIC_KEY_ID,
            mchid=TEST_MCHID,
            appid=TEST_APPID,
            merchant=wechat_key_files["merchant"],
        )
    loaded = load_keys(Path(pay_settings.data_dir) / "sandbox")
    platform = serialization.load_pem_private_key(loaded.platform_private_pem.encode(), None)
    assert isinstance(platform, rsa.RSAPrivateKey)
    return Keys(
        platform=platform,
        apiv3_key=loaded.apiv3_key,
        serial=sandbox_module.PUBLIC_KEY_ID,
        mchid=sandbox_module.MCHID,
        appid=sandbox_module.APPID,
    )


@pytest.fixture
def pay_app(pay_settings: Any, database: Any) -> Any:
    from xiaodian.app import create_app

    return create_app(pay_settings, database=database)


@pytest.fixture
def pay_client(pay_app: Any) -> Iterator[TestClient]:
    with TestClient(pay_app) as test_client:
        yield test_client


# --------------------------------------------------------------------------- WeChat's HTTP


class FakeWeChat:
    """Stands in for api.mch.weixin.qq.com: records requests, answers signed responses."""

    def __init__(self, platform: rsa.RSAPrivateKey) -> None:
        self.platform = platform
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[tuple[str, str], tuple[int, dict[str, Any] | None]] = {}

    def answer(self, method: str, path: str, status: int, body: dict[str, Any] | None) -> None:
        self.answers[(method, path)] = (status, body)

    def _respond(self, method: str, url: str, **kwargs: Any) -> Any:
        path = url.removeprefix("https://api.mch.weixin.qq.com")
        self.requests.append({"method": method, "path": path, "json": kwargs.get("json"), **kwargs})
        status, body = self.answers.get((method, path.split("?")[0]), (404, None))
        text = json.dumps(body) if body is not None else ""
        stamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(8)
        signature = self.platform.sign(
            f"{stamp}\n{nonce}\n{text}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": TEST_PUBLIC_KEY_ID,
            "Wechatpay-Signature": b64encode(signature).decode(),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }
        return _Response(status, text, headers)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._respond("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._respond("GET", url, **kwargs)


@dataclass
class _Response:
    status_code: int
    text: str
    headers: dict[str, str]

    @property
    def content(self) -> bytes:
        return self.text.encode()


@pytest.fixture
def fake_wechat(monkeypatch: pytest.MonkeyPatch, wechat_key_files: dict[str, Any]) -> FakeWeChat:
    """Stub the SDK's HTTP layer (``requests`` inside wechatpayv3.core): no network."""
    import wechatpayv3.core

    fake = FakeWeChat(wechat_key_files["platform"])
    monkeypatch.setattr(wechatpayv3.core.requests, "post", fake.post)
    monkeypatch.setattr(wechatpayv3.core.requests, "get", fake.get)
    return fake


# --------------------------------------------------------------------------- delivery


class Poster:
    """Delivers the sandbox's notifications into the TestClient (or fails on purpose)."""

    def __init__(self) -> None:
        self.client: TestClient | None = None
        self.fail: int | str | None = None  # an HTTP status, or "connect"
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: list[int] = []

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        self.calls.append((url, headers, body))
        if self.fail == "connect":
            raise httpx.ConnectError("connection refused")
        if isinstance(self.fail, int):
            return self.fail
        assert self.client is not None
        response = self.client.post(urlsplit(url).path, content=body, headers=headers)
        self.answers.append(response.status_code)
        return response.status_code


def _install(client: TestClient) -> Iterator[Poster]:
    fake = Poster()
    fake.client = client
    previous = delivery.use_poster(fake)
    yield fake
    delivery.use_poster(previous)


@pytest.fixture
def poster(pay_client: TestClient) -> Iterator[Poster]:
    """Delivers into the app of the parametrised provider."""
    yield from _install(pay_client)


@pytest.fixture
def sandbox_poster(client: TestClient) -> Iterator[Poster]:
    """Delivers into the default (sandbox) app."""
    yield from _install(client)


# --------------------------------------------------------------------------- orders


@dataclass
class Shop:
    owner: Any
    buyer: Any
    shop: Any
    sku_id: int
    sku2_id: int
    address_id: int

    @property
    def buyer_actor(self) -> Actor:
        return actor_for(self.buyer)


@pytest.fixture
def scene(db: Session, make_user: Any) -> Shop:
    owner = make_user(display_name="店主")
    buyer = make_user(display_name="买家")
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("红色", 1990, 100), ("蓝色", 2990, 50)])
    return Shop(
        owner=owner,
        buyer=buyer,
        shop=shop,
        sku_id=product.skus[0].id,
        sku2_id=product.skus[1].id,
        address_id=add_address(db, buyer),
    )


def place(db: Session, scene: Shop, qty: int = 2, sku_id: int | None = None) -> Order:
    """One pending order of the scene's buyer (1990 fen each)."""
    result = checkout(
        db, scene.buyer_actor, lines=[(sku_id or scene.sku_id, qty)], address_id=scene.address_id
    )
    return result.orders[0]


def order_state(db: Session, order_no: str) -> tuple[str, int, int]:
    """(status, paid_fen, refunded_fen) read fresh; ends the read so the app can write."""
    row = db.execute(
        select(Order.status, Order.paid_fen, Order.refunded_fen).where(Order.order_no == order_no)
    ).one()
    db.commit()
    return (str(row.status), row.paid_fen, row.refunded_fen)


def scalar(db: Session, statement: Any) -> Any:
    """One value read fresh; ends the read (the test's session writes on SQLite, so an open
    read would hold the lock the app needs). Never expire objects: touching one later would
    reopen a transaction."""
    value = db.scalar(statement.execution_options(populate_existing=True))
    db.commit()
    return value


def rows(db: Session, statement: Any) -> list[Any]:
    values = list(db.scalars(statement.execution_options(populate_existing=True)))
    db.commit()
    return values


@pytest.fixture
def open_payment(
    db: Session, scene: Shop, pay_settings: Any, request: pytest.FixtureRequest
) -> Any:
    """open_payment(qty=2) -> (order, out_trade_no): a pending order with an open payment
    at the configured provider (WeChat's HTTP stubbed)."""
    from xiaodian.payments import service

    def _open(qty: int = 2) -> tuple[Order, str]:
        order = place(db, scene, qty=qty)
        method = "sandbox"
        if pay_settings.payment_provider == "wechatpay":
            fake = request.getfixturevalue("fake_wechat")
            fake.answer("POST", "/v3/pay/transactions/native", 200, {"code_url": "weixin://x"})
            method = "native"
        start = service.start_payment(
            db, scene.buyer_actor, order_nos=[order.order_no], method=method
        )
        return order, start.out_trade_no

    return _open


def notify(client: TestClient, headers: dict[str, str], body: bytes) -> Any:
    return client.post("/api/v1/payments/notify", content=body, headers=headers)

"""The sandbox: WeChat Pay APIv3 played by xiaodian itself, for the demo and for tests.

Its "WeChat side" keeps its own trade and refund records (``sandbox_*`` tables) and sends
notifications exactly as WeChat Pay does: a JSON body whose resource is encrypted with
AES-256-GCM under the APIv3 key, signed SHA256withRSA with the platform private key over
``timestamp\\nnonce\\nbody\\n``, delivered over HTTP to the notify URL through an outbox and
retried on WeChat's schedule (:mod:`xiaodian.payments.delivery`). Notifications are parsed
by the very code production uses (:class:`WeChatPayProvider`), configured with the
sandbox's platform public key and APIv3 key.

Keys are generated once (RSA 2048 platform and merchant key pairs, a 32-byte APIv3 key)
under ``DATA_DIR/sandbox`` (0600), so they survive restarts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import string
import threading
from base64 import b64decode, b64encode
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.payments.models import (
    DeliveryStatus,
    SandboxDelivery,
    SandboxRefund,
    SandboxRefundStatus,
    SandboxTrade,
    SandboxTradeState,
)
from xiaodian.payments.providers import sandbox_bills, sandbox_sharing
from xiaodian.payments.providers.base import (
    REFUND_NOT_FOUND,
    TRADE_NOT_FOUND,
    BillFile,
    Notification,
    PrepayResult,
    ProviderRejected,
    RefundState,
    SharingReceiver,
    SharingState,
    TradeState,
    TransferState,
)
from xiaodian.payments.providers.wechatpay import SIGNATURE_TYPE, WeChatPayProvider, wechat_time

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026061800000000000001"
REFUND_MODES = ("success", "processing")
PREPAY_PREFIX = "wx_sandbox_"  # a sandbox prepay_id is this and the out_trade_no

_FILES = ("platform_private_key.pem", "merchant_private_key.pem", "apiv3_key")


@dataclass(frozen=True)
class SandboxKeys:
    platform_private_pem: str
    platform_public_pem: str
    merchant_private_pem: str
    merchant_serial: str
    apiv3_key: str


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _pem_public(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _create_keys(directory: Path) -> None:
    """Write a fresh key set atomically (a temp directory renamed into place)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}-{secrets.token_hex(4)}"
    tmp.mkdir(mode=0o700)
    try:
        alphabet = string.ascii_letters + string.digits
        contents = {
            "platform_private_key.pem": _pem_private(
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
            "merchant_private_key.pem": _pem_private(
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
            "apiv3_key": "".join(secrets.choice(alphabet) for _ in range(32)),
        }
        for name, text in contents.items():
            path = tmp / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        if directory.exists() and not any(directory.iterdir()):
            directory.rmdir()
        if directory.exists() and not any((directory / name).exists() for name in _FILES):
            # A directory with other files only (a sandbox setting written before the keys):
            # link the keys in one by one; a file another process linked first stays.
            for name in _FILES:
                with contextlib.suppress(FileExistsError):
                    os.link(tmp / name, directory / name)
            return
        with contextlib.suppress(OSError):  # another process won the race: use its keys
            tmp.rename(directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# The first requests of a new server all ask for the keys at once: one thread generates
# them, the others wait and read them (each would otherwise generate two RSA keys, of
# which one set wins the rename, holding the CPU the buyers' requests need).
_KEYS_MADE = threading.Lock()


@lru_cache(maxsize=8)
def load_keys(directory: Path) -> SandboxKeys:
    """The sandbox's keys under ``directory``, generated on first use."""
    with _KEYS_MADE:
        if not all((directory / name).is_file() for name in _FILES):
            _create_keys(directory)
    platform_pem = (directory / "platform_private_key.pem").read_text()
    merchant_pem = (directory / "merchant_private_key.pem").read_text()
    platform = serialization.load_pem_private_key(platform_pem.encode(), password=None)
    merchant = serialization.load_pem_private_key(merchant_pem.encode(), password=None)
    assert isinstance(platform, rsa.RSAPrivateKey) and isinstance(merchant, rsa.RSAPrivateKey)
    serial = hashlib.sha256(_pem_public(merchant).encode()).hexdigest()[:40].upper()
    return SandboxKeys(
        platform_private_pem=platform_pem,
        platform_public_pem=_pem_public(platform),
        merchant_private_pem=merchant_pem,
        merchant_serial=serial,
        apiv3_key=(directory / "apiv3_key").read_text().strip(),
    )


@lru_cache(maxsize=8)
def _verifier(keys: SandboxKeys, notify_url: str) -> WeChatPayProvider:
    return WeChatPayProvider(
        mchid=MCHID,
        appid=APPID,
        apiv3_key=keys.apiv3_key,
        cert_serial_no=keys.merchant_serial,
        private_key=keys.merchant_private_pem,
        notify_url=notify_url,
        public_key=keys.platform_public_pem,
        public_key_id=PUBLIC_KEY_ID,
    )


@lru_cache(maxsize=8)
def _platform_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


_TRADES: Any = SandboxTrade.__table__
_TRADE_PAID = (
    update(_TRADES)
    .where(
        _TRADES.c.out_trade_no == bindparam("no"),
        _TRADES.c.state == SandboxTradeState.NOTPAY,
    )
    .values(
        state=SandboxTradeState.SUCCESS,
        success_time=bindparam("now", type_=_TRADES.c.success_time.type),
        payer_openid=bindparam("openid", type_=_TRADES.c.payer_openid.type),
    )
    .returning(*_TRADES.c)
)
_DELIVERIES: Any = SandboxDelivery.__table__
_INSERT_DELIVERY = insert(_DELIVERIES).returning(_DELIVERIES.c.id)


@dataclass(frozen=True)
class Queued:
    """A notification the sandbox queued: its delivery row, where it goes, what it says,
    and, when its first attempt is already claimed (its caller posts it), when it is due
    again (``claimed_until``)."""

    id: int
    url: str
    body: str
    claimed_until: datetime | None = None


@functools.cache
def _new_trade_statement(dialect: str) -> Any:
    """A new trade unless its out_trade_no exists: built once per dialect."""
    table: Any = SandboxTrade.__table__
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert_(table).on_conflict_do_nothing(index_elements=["out_trade_no"]).returning(table.c.id)
    )


class SandboxProvider:
    """The provider interface over the sandbox's own tables, in the caller's session."""

    name = "sandbox"
    mchid = MCHID
    appid = APPID

    def __init__(self, db: Session, *, keys: SandboxKeys, key_dir: Path, notify_url: str) -> None:
        self.db = db
        self.keys = keys
        self.key_dir = key_dir
        self.notify_url = notify_url
        self.verifier = _verifier(keys, notify_url)

    # --- the provider interface ---------------------------------------------------------

    def prepay(self, payment: Any, method: str, *, openid: str | None = None) -> PrepayResult:
        if method not in ("sandbox", "native", "jsapi"):
            raise ProviderRejected("PARAM_ERROR", f"the sandbox does not support {method}")
        if method == "jsapi" and not openid:
            raise ProviderRejected("PARAM_ERROR", "payer openid is required for JSAPI")
        # WeChat's answer to the same out_trade_no again is the same prepay, unless the
        # amount differs: one INSERT in the usual case, a read only when it already exists.
        created = self.db.execute(
            _new_trade_statement(self.db.get_bind().dialect.name),
            dict(
                out_trade_no=payment.out_trade_no,
                transaction_id="4200" + clock.now().strftime("%Y%m%d") + _digits(16),
                mchid=MCHID,
                appid=APPID,
                trade_type="JSAPI" if method == "jsapi" else "NATIVE",
                payer_openid=openid if method == "jsapi" else None,
                description=payment.description,
                amount_fen=payment.amount_fen,
                notify_url=self.notify_url,
                state=SandboxTradeState.NOTPAY,
                time_expire=payment.expires_at,
                created_at=clock.now(),
                profit_sharing=bool(getattr(payment, "profit_sharing", False)),
            ),
        ).scalar()
        if created is None:
            trade = self._trade(payment.out_trade_no)
            if trade is None or trade.amount_fen != payment.amount_fen:
                raise ProviderRejected("INVALID_REQUEST", "out_trade_no used with another amount")
        if method == "jsapi":  # the page calls WeixinJSBridge with these, signed as WeChat's
            return PrepayResult(
                method=method,
                jsapi=self.verifier.jsapi_params(PREPAY_PREFIX + payment.out_trade_no),
            )
        path = f"/sandbox/cashier/{payment.out_trade_no}"
        return PrepayResult(
            method=method, cashier_url=path, code_url=path if method == "native" else None
        )

    def query(self, out_trade_no: str) -> TradeState:
        trade = self._trade(out_trade_no)
        if trade is None:
            return TradeState(out_trade_no=out_trade_no, state=TRADE_NOT_FOUND)
        return TradeState(
            out_trade_no=out_trade_no,
            state=trade.state.value,
            transaction_id=trade.transaction_id,
            raw=self.transaction_resource(trade),
        )

    def close(self, out_trade_no: str) -> None:
        trade = self._trade(out_trade_no, lock=True)
        if trade is None:
            raise ProviderRejected("ORDER_NOT_EXIST", "no such trade")
        if trade.state in (SandboxTradeState.SUCCESS, SandboxTradeState.REFUND):
            raise ProviderRejected("ORDERPAID", "the trade is paid")
        trade.state = SandboxTradeState.CLOSED

    def refund(self, refund: Any, *, out_trade_no: str, total_fen: int) -> RefundState:
        existing = self._refund(refund.out_refund_no)
        if existing is not None:  # out_refund_no is the idempotency key
            return self._refund_state(existing)
        trade = self._trade(out_trade_no, lock=True)
        if trade is None:
            raise ProviderRejected("RESOURCE_NOT_EXISTS", "no such trade")
        if trade.state not in (SandboxTradeState.SUCCESS, SandboxTradeState.REFUND):
            raise ProviderRejected("TRADE_STATE_ERROR", "the trade is not paid")
        if total_fen != trade.amount_fen:
            raise ProviderRejected("PARAM_ERROR", "total does not match the trade")
        refunded = self.db.scalar(
            select(func.coalesce(func.sum(SandboxRefund.amount_fen), 0)).where(
                SandboxRefund.out_trade_no == out_trade_no,
                SandboxRefund.status != SandboxRefundStatus.CLOSED,
            )
        )
        if int(refunded or 0) + refund.amount_fen > trade.amount_fen:
            raise ProviderRejected("NOT_ENOUGH", "refund exceeds what was paid")
        row = SandboxRefund(
            out_refund_no=refund.out_refund_no,
            refund_id="50" + clock.now().strftime("%Y%m%d") + _digits(19),
            out_trade_no=out_trade_no,
            amount_fen=refund.amount_fen,
            total_fen=trade.amount_fen,
            status=SandboxRefundStatus.PROCESSING,
            notify_url=self.notify_url,
        )
        self.db.add(row)
        trade.state = SandboxTradeState.REFUND
        self.db.flush()
        if self.refund_mode() == "success":
            self.settle_refund(row, SandboxRefundStatus.SUCCESS)
        return self._refund_state(row)

    def query_refund(self, out_refund_no: str) -> RefundState:
        row = self._refund(out_refund_no)
        if row is None:
            return RefundState(out_refund_no=out_refund_no, status=REFUND_NOT_FOUND)
        return self._refund_state(row)

    def parse_notification(self, headers: Any, body: bytes) -> Notification:
        return self.verifier.parse_notification(headers, body)

    def transfer(
        self, out_bill_no: str, *, openid: str | None, amount_fen: int, remark: str
    ) -> TransferState:
        """商家转账 in the sandbox: it answers as ``XIAODIAN_LEDGER_PAYOUT_MODE`` says
        (success, fail, or processing until an operator decides); no openid needed."""
        mode = settings_module.current().ledger_payout_mode
        state = {"success": "SUCCESS", "fail": "FAIL"}.get(mode, "PROCESSING")
        reason = "sandbox payout failed" if state == "FAIL" else ""
        return TransferState(out_bill_no, state, f"SBXTB{out_bill_no}", reason)

    def query_transfer(self, out_bill_no: str) -> TransferState:
        """A processing sandbox transfer stays so until an operator decides it."""
        return TransferState(out_bill_no, "PROCESSING", f"SBXTB{out_bill_no}")

    def add_sharing_receiver(self, type: str, account: str, *, name: str = "") -> None:
        sandbox_sharing.add_receiver(self.db, MCHID, type, account, name)

    def share(
        self,
        out_order_no: str,
        *,
        transaction_id: str,
        receivers: list[SharingReceiver],
        unfreeze_unsplit: bool,
    ) -> SharingState:
        return sandbox_sharing.share(
            self.db, out_order_no, transaction_id, receivers, unfreeze_unsplit
        )

    def query_sharing(self, out_order_no: str, *, transaction_id: str) -> SharingState:
        return sandbox_sharing.query(self.db, out_order_no, transaction_id)

    def unfreeze(self, out_order_no: str, *, transaction_id: str, description: str) -> SharingState:
        return sandbox_sharing.unfreeze(self.db, out_order_no, transaction_id)

    # --- the "WeChat side" --------------------------------------------------------------

    def buyer_pays(
        self, out_trade_no: str, *, openid: str, claimed_until: datetime | None = None
    ) -> Queued | None:
        """The buyer confirmed in the cashier: the trade succeeds and WeChat notifies.

        The queued notification (see ``enqueue`` for ``claimed_until``), or None (and
        nothing changed) if the trade is not waiting for payment, so a double click pays
        once.
        """
        trade = self.db.execute(  # one conditional UPDATE: a second press finds it paid
            _TRADE_PAID, {"no": out_trade_no, "now": clock.now(), "openid": openid}
        ).first()
        if trade is None:
            return None
        return self.enqueue(
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            self.transaction_resource(trade),
            url=trade.notify_url,
            out_trade_no=out_trade_no,
            claimed_until=claimed_until,
        )

    def check_pay_request(self, params: dict[str, Any]) -> str:
        """What WeChat checks of a ``getBrandWCPayRequest``: our appid, signType RSA, and the
        paySign, SHA256withRSA over ``appId\ntimeStamp\nnonceStr\npackage\n``, verified
        with the merchant's public key. The trade's out_trade_no, or ProviderRejected."""
        fields = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
        if not all(isinstance(params.get(name), str) for name in fields):
            raise ProviderRejected("PARAM_ERROR", "missing parameters")
        package = params["package"]
        if params["appId"] != APPID or params["signType"] != "RSA":
            raise ProviderRejected("PARAM_ERROR", "wrong appId or signType")
        if not package.startswith("prepay_id=" + PREPAY_PREFIX):
            raise ProviderRejected("PARAM_ERROR", "not a prepay of this merchant")
        message = "".join(
            f"{params[name]}\n" for name in ("appId", "timeStamp", "nonceStr", "package")
        ).encode()
        try:
            _platform_key(self.keys.merchant_private_pem).public_key().verify(
                b64decode(params["paySign"], validate=True),
                message,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise ProviderRejected("SIGN_ERROR", "paySign does not verify") from None
        return package.removeprefix("prepay_id=" + PREPAY_PREFIX)[:32]

    def is_payer(self, out_trade_no: str, openid: str) -> bool:
        trade = self._trade(out_trade_no)
        return trade is not None and trade.trade_type == "JSAPI" and trade.payer_openid == openid

    def settle_refund(self, row: SandboxRefund, status: SandboxRefundStatus) -> bool:
        """A processing refund reaches its outcome; WeChat sends REFUND.<STATUS>."""
        if row.status != SandboxRefundStatus.PROCESSING or status == row.status:
            return False
        row.status = status
        if status == SandboxRefundStatus.SUCCESS:
            row.success_time = clock.now()
        self.db.flush()
        summary = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}
        self.enqueue(
            f"REFUND.{status.value}",
            summary[status.value],
            "refund",
            self.refund_resource(row),
            url=row.notify_url,
            out_trade_no=row.out_trade_no,
        )
        return True

    def refund_mode(self) -> str:
        """ "success" (refunds succeed at once, the default) or "processing" (wait for
        an outcome set by hand)."""
        path = self.key_dir / "refund_mode"
        mode = path.read_text().strip() if path.is_file() else "success"
        return mode if mode in REFUND_MODES else "success"

    def set_refund_mode(self, mode: str) -> None:
        if mode not in REFUND_MODES:
            raise ValueError(mode)
        (self.key_dir / "refund_mode").write_text(mode)

    def trade(self, out_trade_no: str) -> SandboxTrade | None:
        return self._trade(out_trade_no)

    def refund_row(self, out_refund_no: str) -> SandboxRefund | None:
        return self._refund(out_refund_no)

    def transaction_resource(self, trade: Any) -> dict[str, Any]:
        """The trade (a ``SandboxTrade`` or a row of its table) as WeChat Pay describes it."""
        resource: dict[str, Any] = {
            "mchid": trade.mchid,
            "appid": trade.appid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": trade.trade_type,
            "trade_state": trade.state.value,
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付"}.get(
                trade.state.value, trade.state.value
            ),
            "bank_type": "OTHERS",
            "attach": "",
            "amount": {"total": trade.amount_fen, "currency": "CNY"},
        }
        if trade.success_time is not None:
            resource["success_time"] = wechat_time(trade.success_time)
            resource["payer"] = {"openid": trade.payer_openid or ""}
            resource["amount"].update({"payer_total": trade.amount_fen, "payer_currency": "CNY"})
        return resource

    def refund_resource(self, row: SandboxRefund) -> dict[str, Any]:
        trade = self._trade(row.out_trade_no)
        resource: dict[str, Any] = {
            "mchid": MCHID,
            "out_trade_no": row.out_trade_no,
            "transaction_id": trade.transaction_id if trade else "",
            "out_refund_no": row.out_refund_no,
            "refund_id": row.refund_id,
            "refund_status": row.status.value,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": row.total_fen,
                "refund": row.amount_fen,
                "payer_total": row.total_fen,
                "payer_refund": row.amount_fen,
            },
        }
        if row.success_time is not None:
            resource["success_time"] = wechat_time(row.success_time)
        return resource

    # --- notifications as WeChat Pay builds them ----------------------------------------

    def build_body(
        self, event_type: str, summary: str, original_type: str, resource: dict[str, Any]
    ) -> tuple[str, str]:
        """(notification id, JSON body) with the resource encrypted under the APIv3 key."""
        notification_id = f"EV-{clock.now():%Y%m%d%H%M%S}{_digits(6)}-{secrets.token_hex(4)}"
        nonce = secrets.token_hex(6)  # 12 characters, used as the 12-byte GCM nonce
        plaintext = json.dumps(resource, ensure_ascii=False).encode()
        ciphertext = AESGCM(self.keys.apiv3_key.encode()).encrypt(
            nonce.encode(), plaintext, original_type.encode()
        )
        body = {
            "id": notification_id,
            "create_time": wechat_time(clock.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": b64encode(ciphertext).decode(),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        return notification_id, json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    def sign(self, body: str) -> dict[str, str]:
        """Fresh headers for one delivery attempt (WeChat signs every attempt anew)."""
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16).upper()
        message = f"{timestamp}\n{nonce}\n{body}\n".encode()
        signature = _platform_key(self.keys.platform_private_pem).sign(
            message, padding.PKCS1v15(), hashes.SHA256()
        )
        return {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": PUBLIC_KEY_ID,
            "Wechatpay-Signature": b64encode(signature).decode(),
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        }

    def enqueue(
        self,
        event_type: str,
        summary: str,
        original_type: str,
        resource: dict[str, Any],
        *,
        url: str,
        out_trade_no: str,
        claimed_until: datetime | None = None,
    ) -> Queued:
        """The notification, queued for delivery (one INSERT built once), due at once.

        With ``claimed_until``, its first attempt is claimed as it is queued: the caller
        posts it once this transaction has committed (``delivery.post_claimed``), and it is
        due again (a retry) only at ``claimed_until``, as if a worker had claimed it.
        """
        notification_id, body = self.build_body(event_type, summary, original_type, resource)
        now = clock.now()
        delivery_id = self.db.execute(
            _INSERT_DELIVERY,
            {
                "notification_id": notification_id,
                "event_type": event_type,
                "out_trade_no": out_trade_no,
                "url": url,
                "body": body,
                "status": DeliveryStatus.PENDING,
                "attempts": 0 if claimed_until is None else 1,
                "next_attempt_at": claimed_until or now,
                "last_error": None,
                "created_at": now,
                "delivered_at": None,
            },
        ).scalar_one()
        return Queued(int(delivery_id), url, body, claimed_until)

    # --- daily bills (payments/providers/sandbox_bills.py) -------------------------------

    def apply_bill(self, kind: str, bill_date: date) -> BillFile | None:
        return sandbox_bills.apply(self.db, kind, bill_date)

    def download_bill(self, url: str) -> bytes:
        return sandbox_bills.download(self.db, url)

    # --- helpers ------------------------------------------------------------------------

    def _trade(self, out_trade_no: str, *, lock: bool = False) -> SandboxTrade | None:
        query = select(SandboxTrade).where(SandboxTrade.out_trade_no == out_trade_no)
        if lock:
            query = query.with_for_update()
        return self.db.scalar(query)

    def _refund(self, out_refund_no: str) -> SandboxRefund | None:
        return self.db.scalar(
            select(SandboxRefund).where(SandboxRefund.out_refund_no == out_refund_no)
        )

    def _refund_state(self, row: SandboxRefund) -> RefundState:
        return RefundState(
            out_refund_no=row.out_refund_no,
            status=row.status.value,
            refund_id=row.refund_id,
            raw=self.refund_resource(row),
        )

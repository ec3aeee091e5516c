"""WeChat Pay APIv3 on the ``wechatpayv3`` SDK (JSAPI and Native).

The SDK signs requests, verifies response and notification signatures and decrypts
notification resources (AES-256-GCM with the APIv3 key). It checks neither replay nor
idempotency: :meth:`WeChatPayProvider.parse_notification` refuses timestamps more than five
minutes from ``clock.now()`` and unknown serials (before the SDK would go and fetch
certificates over the network); the notify endpoint deduplicates by notification id.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import date, datetime
from typing import Any

from wechatpayv3 import WeChatPay, WeChatPayType

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.clock import BUSINESS_TZ
from xiaodian.payments.providers.base import (
    MAX_CLOCK_SKEW_SECONDS,
    RECEIVER_MERCHANT,
    REFUND_NOT_FOUND,
    SHARING_NOT_FOUND,
    TRADE_NOT_FOUND,
    TRANSFER_NOT_FOUND,
    BadNotification,
    BillFile,
    BillNotReady,
    Notification,
    PrepayResult,
    ProviderError,
    ProviderRejected,
    RefundState,
    SharingReceiver,
    SharingState,
    TradeState,
    TransferState,
)

log = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_HEADERS = ("wechatpay-signature", "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial")


def wechat_time(moment: datetime) -> str:
    """RFC 3339 in Beijing time, as WeChat Pay writes it: 2026-06-18T10:34:56+08:00."""
    return moment.astimezone(BUSINESS_TZ).isoformat(timespec="seconds")


class WeChatPayProvider:
    name = "wechatpay"

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        apiv3_key: str,
        cert_serial_no: str,
        private_key: str,
        notify_url: str,
        public_key: str | None = None,
        public_key_id: str | None = None,
        cert_dir: str | None = None,
        timeout: tuple[int, int] = (5, 15),
    ) -> None:
        self.mchid = mchid
        self.appid = appid
        self.notify_url = notify_url
        self.public_key_id = public_key_id
        self.sdk = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=mchid,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=appid,
            apiv3_key=apiv3_key,
            notify_url=notify_url,
            cert_dir=cert_dir,
            logger=log,
            timeout=timeout,
            public_key=public_key,
            public_key_id=public_key_id,
        )

    # --- requests -----------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        try:
            code, text = fn(*args, **kwargs)
        except Exception as exc:  # requests' errors, or a response signature that fails
            raise ProviderError(f"wechatpay request failed: {exc}") from exc
        data: dict[str, Any] = {}
        if text:
            try:
                parsed = json.loads(text)
            except (TypeError, ValueError):
                parsed = None
            if isinstance(parsed, dict):
                data = parsed
        if 200 <= code < 300:
            return code, data
        if code == 404:
            return code, data
        if 400 <= code < 500 and code != 429:
            raise ProviderRejected(
                str(data.get("code") or code), str(data.get("message") or "rejected")
            )
        raise ProviderError(f"wechatpay answered {code}: {data.get('code')}")

    def prepay(self, payment: Any, method: str, *, openid: str | None = None) -> PrepayResult:
        kwargs: dict[str, Any] = {
            "description": payment.description,
            "out_trade_no": payment.out_trade_no,
            "amount": {"total": payment.amount_fen, "currency": "CNY"},
            "time_expire": wechat_time(payment.expires_at),
            "notify_url": self.notify_url,
        }
        if getattr(payment, "profit_sharing", False):  # frozen until split (分账)
            kwargs["settle_info"] = {"profit_sharing": True}
        if method == "jsapi":
            if not openid:
                raise ProviderRejected("PARAM_ERROR", "payer openid is required for JSAPI")
            kwargs["payer"] = {"openid": openid}
            kwargs["pay_type"] = WeChatPayType.JSAPI
            _code, data = self._call(self.sdk.pay, **kwargs)
            prepay_id = data.get("prepay_id")
            if not prepay_id:
                raise ProviderError("wechatpay returned no prepay_id")
            return PrepayResult(method=method, jsapi=self.jsapi_params(str(prepay_id)))
        if method == "native":
            kwargs["pay_type"] = WeChatPayType.NATIVE
            _code, data = self._call(self.sdk.pay, **kwargs)
            code_url = data.get("code_url")
            if not code_url:
                raise ProviderError("wechatpay returned no code_url")
            return PrepayResult(method=method, code_url=str(code_url))
        raise ProviderRejected("PARAM_ERROR", f"unsupported method {method}")

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """What ``WeixinJSBridge.invoke('getBrandWCPayRequest', ...)`` takes, signed."""
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = self.sdk.sign([self.appid, timestamp, nonce, package])
        return {
            "appId": self.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": pay_sign,
        }

    def query(self, out_trade_no: str) -> TradeState:
        code, data = self._call(self.sdk.query, out_trade_no=out_trade_no)
        if code == 404:
            return TradeState(out_trade_no=out_trade_no, state=TRADE_NOT_FOUND)
        return TradeState(
            out_trade_no=out_trade_no,
            state=str(data.get("trade_state") or ""),
            transaction_id=data.get("transaction_id"),
            raw=data,
        )

    def close(self, out_trade_no: str) -> None:
        code, data = self._call(self.sdk.close, out_trade_no=out_trade_no)
        if code == 404:
            raise ProviderRejected("ORDER_NOT_EXIST", str(data.get("message") or ""))

    def refund(self, refund: Any, *, out_trade_no: str, total_fen: int) -> RefundState:
        _code, data = self._call(
            self.sdk.refund,
            out_refund_no=refund.out_refund_no,
            amount={"refund": refund.amount_fen, "total": total_fen, "currency": "CNY"},
            out_trade_no=out_trade_no,
            reason=refund.reason or None,
            notify_url=self.notify_url,
        )
        return _refund_state(refund.out_refund_no, data)

    def query_refund(self, out_refund_no: str) -> RefundState:
        code, data = self._call(self.sdk.query_refund, out_refund_no=out_refund_no)
        if code == 404:
            return RefundState(out_refund_no=out_refund_no, status=REFUND_NOT_FOUND)
        return _refund_state(out_refund_no, data)

    # --- daily bills ----------------------------------------------------------------------

    def apply_bill(self, kind: str, bill_date: date) -> BillFile | None:
        day = bill_date.isoformat()
        fn = self.sdk.trade_bill if kind == "trade" else self.sdk.fundflow_bill
        try:
            _code, data = self._call(fn, day)
        except ProviderRejected as exc:
            if exc.code == "NO_STATEMENT_EXIST":
                return None
            if exc.code == "STATEMENT_CREATING":
                raise BillNotReady(exc.code, exc.message) from None
            raise
        url, hash_type, hash_value = (
            data.get(k) for k in ("download_url", "hash_type", "hash_value")
        )
        if not (isinstance(url, str) and isinstance(hash_value, str)):
            raise ProviderError("wechatpay returned no download_url")
        return BillFile(download_url=url, hash_type=str(hash_type or "SHA1"), hash_value=hash_value)

    def download_bill(self, url: str) -> bytes:
        try:
            code, body = self.sdk.download_bill(url)
        except Exception as exc:
            raise ProviderError(f"wechatpay bill download failed: {exc}") from exc
        if code != 200:
            raise ProviderError(f"wechatpay bill download answered {code}")
        return body if isinstance(body, bytes) else str(body).encode("utf-8")

    # --- transfers to a user (商家转账) ----------------------------------------------------

    def transfer(
        self, out_bill_no: str, *, openid: str | None, amount_fen: int, remark: str
    ) -> TransferState:
        if not openid:
            raise ProviderRejected("PARAM_ERROR", "the payee's openid is required")
        if amount_fen >= TRANSFER_NAME_FROM_FEN:
            raise ProviderRejected("PARAM_ERROR", "the payee's real name is required")
        _code, data = self._call(
            self.sdk.mch_transfer_bills,
            out_bill_no=out_bill_no,
            transfer_scene_id=settings_module.current().wechatpay_transfer_scene_id,
            openid=openid,
            transfer_amount=amount_fen,
            transfer_remark=remark[:32],
            transfer_scene_report_infos=TRANSFER_REPORT,
            notify_url=self.notify_url,
        )
        return _transfer_state(out_bill_no, data)

    def query_transfer(self, out_bill_no: str) -> TransferState:
        code, data = self._call(self.sdk.mch_transfer_bills_query, out_bill_no=out_bill_no)
        if code == 404:
            return TransferState(out_bill_no=out_bill_no, state=TRANSFER_NOT_FOUND)
        return _transfer_state(out_bill_no, data)

    # --- profit sharing (分账) --------------------------------------------------------------

    def _sent(self, fn: Any, **kwargs: Any) -> dict[str, Any]:
        """A request that creates something: a 404 is a refusal (the trade is unknown)."""
        code, data = self._call(fn, **kwargs)
        if code == 404:
            raise ProviderRejected(
                str(data.get("code") or "RESOURCE_NOT_EXISTS"), str(data.get("message") or "")
            )
        return data

    def add_sharing_receiver(self, type: str, account: str, *, name: str = "") -> None:
        relation = "PARTNER" if type == RECEIVER_MERCHANT else "DISTRIBUTOR"
        self._sent(
            self.sdk.profitsharing_add_receiver,
            account_type=type,
            account=account,
            relation_type=relation,
            name=name or None,
        )

    def share(
        self,
        out_order_no: str,
        *,
        transaction_id: str,
        receivers: list[SharingReceiver],
        unfreeze_unsplit: bool,
    ) -> SharingState:
        data = self._sent(
            self.sdk.profitsharing_order,
            transaction_id=transaction_id,
            out_order_no=out_order_no,
            receivers=[r.as_request() for r in receivers],
            unfreeze_unsplit=unfreeze_unsplit,
        )
        return _sharing_state(out_order_no, data)

    def query_sharing(self, out_order_no: str, *, transaction_id: str) -> SharingState:
        code, data = self._call(
            self.sdk.profitsharing_order_query,
            transaction_id=transaction_id,
            out_order_no=out_order_no,
        )
        if code == 404:
            return SharingState(out_order_no=out_order_no, state=SHARING_NOT_FOUND)
        return _sharing_state(out_order_no, data)

    def unfreeze(self, out_order_no: str, *, transaction_id: str, description: str) -> SharingState:
        data = self._sent(
            self.sdk.profitsharing_unfreeze,
            transaction_id=transaction_id,
            out_order_no=out_order_no,
            description=description[:80],
        )
        return _sharing_state(out_order_no, data)

    # --- notifications ------------------------------------------------------------------

    def parse_notification(self, headers: Any, body: bytes) -> Notification:
        h = {str(k).lower(): str(v) for k, v in dict(headers).items()}
        missing = [name for name in _HEADERS if not h.get(name)]
        if missing:
            raise BadNotification("malformed", "missing header " + ", ".join(missing))
        if h.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            raise BadNotification("malformed", "unsupported signature type")
        h.setdefault("wechatpay-signature-type", SIGNATURE_TYPE)
        serial = h["wechatpay-serial"]
        if not self._knows_serial(serial):
            raise BadNotification("unknown_serial", serial[:64])
        try:
            stamp = int(h["wechatpay-timestamp"])
            sent_at = datetime.fromtimestamp(stamp, tz=clock.now().tzinfo)
        except (ValueError, OverflowError, OSError):
            raise BadNotification("malformed", "bad timestamp") from None
        skew = abs((clock.now() - sent_at).total_seconds())
        if skew > MAX_CLOCK_SKEW_SECONDS:
            raise BadNotification("stale_timestamp", f"{int(skew)}s from now")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadNotification("malformed", "body is not UTF-8") from None
        try:
            result = self.sdk.callback(h, text)
        except Exception as exc:  # JSON, base64 or algorithm errors inside the SDK
            raise BadNotification("malformed", str(exc)[:150]) from None
        if result is None:
            try:
                signed = bool(self.sdk._core._verify_signature(h, text))
            except Exception:
                signed = False
            if not signed:
                raise BadNotification("bad_signature")
            raise BadNotification("undecryptable", "resource could not be decrypted")
        resource = result.get("resource")
        event_id = result.get("id")
        event_type = result.get("event_type")
        if not (
            isinstance(resource, dict)
            and isinstance(event_id, str)
            and 0 < len(event_id) <= 64
            and isinstance(event_type, str)
            and 0 < len(event_type) <= 40
        ):
            raise BadNotification("malformed", "missing id, event_type or resource")
        return Notification(
            id=event_id,
            event_type=event_type,
            create_time=str(result.get("create_time") or ""),
            resource=resource,
            timestamp=sent_at,
            serial=serial,
        )

    def _knows_serial(self, serial: str) -> bool:
        if self.public_key_id:
            return serial == self.public_key_id
        # platform certificate mode: the SDK fetches new certificates for unknown serials
        try:
            int(serial, 16)
        except ValueError:
            return False
        return True


def _refund_state(out_refund_no: str, data: dict[str, Any]) -> RefundState:
    status = data.get("status")
    if not status:
        raise ProviderError("wechatpay refund answer has no status")
    return RefundState(
        out_refund_no=out_refund_no,
        status=str(status),
        refund_id=data.get("refund_id"),
        raw=data,
    )


# WeChat Pay asks for the payee's real name from ¥2,000 a transfer.
TRANSFER_NAME_FROM_FEN = 200_000
# What the 佣金报酬 scene (1005) must report about each transfer.
TRANSFER_REPORT = [
    {"info_type": "岗位类型", "info_content": "店铺经营者"},
    {"info_type": "报酬说明", "info_content": "店铺货款提现"},
]


def _transfer_state(out_bill_no: str, data: dict[str, Any]) -> TransferState:
    state = str(data.get("state") or "")
    if not state:
        raise ProviderError("wechatpay returned no transfer state")
    return TransferState(
        out_bill_no=out_bill_no,
        state=state,
        transfer_bill_no=data.get("transfer_bill_no"),
        fail_reason=str(data.get("fail_reason") or ""),
    )


def _sharing_state(out_order_no: str, data: dict[str, Any]) -> SharingState:
    """A profit-sharing order as WeChat Pay answers it (the request, the query, the
    unfreeze): its state and each receiver's result."""
    state = str(data.get("state") or "")
    if not state:
        raise ProviderError("wechatpay returned no profit-sharing state")
    receivers = []
    for item in data.get("receivers") or []:
        if not isinstance(item, dict):
            continue
        try:
            amount = int(item.get("amount") or 0)
        except (TypeError, ValueError):
            raise ProviderError("wechatpay returned a receiver without an amount") from None
        receivers.append(
            SharingReceiver(
                type=str(item.get("type") or ""),
                account=str(item.get("account") or ""),
                amount=amount,
                description=str(item.get("description") or ""),
                result=str(item.get("result") or "PENDING"),
                fail_reason=str(item.get("fail_reason") or ""),
            )
        )
    return SharingState(
        out_order_no=out_order_no,
        state=state,
        order_id=data.get("order_id"),
        receivers=tuple(receivers),
    )

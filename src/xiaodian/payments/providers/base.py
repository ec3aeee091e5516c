"""What xiaodian needs from a payment provider, whatever it is.

Two implementations, chosen by ``settings.payment_provider``: ``wechatpay`` (WeChat Pay
APIv3 through the ``wechatpayv3`` SDK) and ``sandbox`` (the same protocol played by
xiaodian itself). Both parse notifications with the same code: signature checked against
the platform public key, resource decrypted with the APIv3 key, timestamp within five
minutes of ``clock.now()``. Idempotency is the caller's business (the notify endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from xiaodian.payments.models import Payment, Refund

# WeChat Pay's trade states (query) and refund statuses
TRADE_SUCCESS = "SUCCESS"
TRADE_NOTPAY = "NOTPAY"
TRADE_CLOSED = "CLOSED"
TRADE_REFUND = "REFUND"
TRADE_NOT_FOUND = "NOT_FOUND"  # ORDER_NOT_EXIST: no prepay ever reached the provider
TRADE_FINAL_UNPAID = frozenset({"CLOSED", "REVOKED", "PAYERROR"})

REFUND_SUCCESS = "SUCCESS"
REFUND_PROCESSING = "PROCESSING"
REFUND_FAILED = frozenset({"CLOSED"})  # final: the money did not leave; may be sent again
# Not final: the money left the merchant but could not reach the buyer (a closed card, say).
# WeChat Pay holds it until the merchant finishes it (to a bank card, or back), then SUCCESS.
REFUND_ABNORMAL = "ABNORMAL"
REFUND_NOT_FOUND = "NOT_FOUND"

MAX_CLOCK_SKEW_SECONDS = 300


class ProviderError(Exception):
    """The provider could not be reached or answered something we cannot use (retry later)."""


class ProviderRejected(ProviderError):
    """The provider refused the request for good (a business error code): do not retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class BillNotReady(ProviderRejected):
    """The day's bill is still being made (``STATEMENT_CREATING``): ask again later."""


@dataclass(frozen=True)
class BillFile:
    """Where a day's bill can be fetched (``download_url``) and the file's hash."""

    download_url: str
    hash_type: str
    hash_value: str


class BadNotification(Exception):
    """A notification that must be refused. ``reason`` is a short code for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PrepayResult:
    method: str
    cashier_url: str | None = None  # sandbox
    code_url: str | None = None  # native: encode as a QR code
    jsapi: dict[str, str] | None = None  # jsapi: the parameters for WeixinJSBridge

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "cashier_url": self.cashier_url,
            "code_url": self.code_url,
            "jsapi": self.jsapi,
        }


@dataclass(frozen=True)
class TradeState:
    out_trade_no: str
    state: str
    transaction_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the provider's transaction resource


@dataclass(frozen=True)
class RefundState:
    out_refund_no: str
    status: str
    refund_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


# 商家转账 (transfer-bills) states: SUCCESS and FAIL / CANCELLED are final; ACCEPTED,
# PROCESSING, WAIT_USER_CONFIRM, TRANSFERING and CANCELING are under way.
TRANSFER_SUCCESS = "SUCCESS"
TRANSFER_FAILED = frozenset({"FAIL", "CANCELLED"})
TRANSFER_NOT_FOUND = "NOT_FOUND"  # the request never reached the provider


@dataclass(frozen=True)
class TransferState:
    out_bill_no: str
    state: str
    transfer_bill_no: str | None = None
    fail_reason: str = ""


# Profit sharing (分账): a request is PROCESSING until WeChat Pay has split it (FINISHED);
# each receiver's result is PENDING, then SUCCESS or CLOSED (the money stays with the payee).
SHARING_PROCESSING = "PROCESSING"
SHARING_FINISHED = "FINISHED"
SHARING_NOT_FOUND = "NOT_FOUND"
RECEIVER_MERCHANT = "MERCHANT_ID"
RECEIVER_PERSONAL = "PERSONAL_OPENID"
MAX_SHARING_RECEIVERS = 50  # per request
MAX_SHARING_REQUESTS = 50  # per payment (transaction_id)


@dataclass(frozen=True)
class SharingReceiver:
    type: str  # MERCHANT_ID | PERSONAL_OPENID
    account: str
    amount: int  # whole fen, > 0
    description: str
    result: str = "PENDING"  # in answers: PENDING | SUCCESS | CLOSED
    fail_reason: str = ""

    def as_request(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "account": self.account,
            "amount": self.amount,
            "description": self.description,
        }


@dataclass(frozen=True)
class SharingState:
    out_order_no: str
    state: str
    order_id: str | None = None  # WeChat Pay's 分账单号
    receivers: tuple[SharingReceiver, ...] = ()


@dataclass(frozen=True)
class Notification:
    id: str
    event_type: str
    create_time: str
    resource: dict[str, Any]  # decrypted
    timestamp: datetime
    serial: str

    @property
    def is_transaction(self) -> bool:
        return self.event_type.startswith("TRANSACTION.")

    @property
    def is_refund(self) -> bool:
        return self.event_type.startswith("REFUND.")


class PaymentProvider(Protocol):
    name: str
    mchid: str
    appid: str

    def prepay(self, payment: Payment, method: str, *, openid: str | None = None) -> PrepayResult:
        """Register the trade at the provider and return what the client needs to pay."""

    def query(self, out_trade_no: str) -> TradeState: ...

    def close(self, out_trade_no: str) -> None: ...

    def refund(self, refund: Refund, *, out_trade_no: str, total_fen: int) -> RefundState:
        """Submit a refund; ``out_refund_no`` is the idempotency key at the provider too."""

    def query_refund(self, out_refund_no: str) -> RefundState: ...

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        """Verify and decrypt, or raise BadNotification."""

    def apply_bill(self, kind: str, bill_date: date) -> BillFile | None:
        """Ask for a day's bill (``trade``: the ALL trade bill; ``fundflow``: the basic
        account's). None: the day has no bill (no trade). Raises BillNotReady."""

    def download_bill(self, url: str) -> bytes:
        """The bill file at ``download_url`` (gzip)."""

    def transfer(
        self, out_bill_no: str, *, openid: str | None, amount_fen: int, remark: str
    ) -> TransferState:
        """商家转账 to a WeChat user; ``out_bill_no`` is the idempotency key there too."""

    def query_transfer(self, out_bill_no: str) -> TransferState: ...

    def add_sharing_receiver(self, type: str, account: str, *, name: str = "") -> None:
        """Register a receiver of profit sharing (adding one twice is no error)."""

    def share(
        self,
        out_order_no: str,
        *,
        transaction_id: str,
        receivers: list[SharingReceiver],
        unfreeze_unsplit: bool,
    ) -> SharingState:
        """Request a split of a payment made with ``profit_sharing``; ``out_order_no`` is
        the idempotency key there too. Answered PROCESSING; the query tells the end."""

    def query_sharing(self, out_order_no: str, *, transaction_id: str) -> SharingState: ...

    def unfreeze(self, out_order_no: str, *, transaction_id: str, description: str) -> SharingState:
        """Give the payment's unsplit rest back to the collecting merchant (分账完结)."""

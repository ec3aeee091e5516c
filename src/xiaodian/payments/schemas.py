from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from xiaodian.web.types import Fen

OrderNo = Annotated[str, StringConstraints(min_length=1, max_length=32, strip_whitespace=True)]


class PaymentStartIn(BaseModel):
    order_nos: list[OrderNo] = Field(min_length=1, max_length=20)
    method: Literal["native", "jsapi", "sandbox"]
    openid: str | None = Field(default=None, max_length=128, description="JSAPI: the payer")


class PaymentStartOut(BaseModel):
    out_trade_no: str
    amount_fen: int
    method: str
    status: str
    expires_at: datetime
    cashier_url: str | None = Field(default=None, description="sandbox: open this page")
    code_url: str | None = Field(default=None, description="native: show as a QR code")
    jsapi: dict[str, str] | None = Field(default=None, description="jsapi: for WeixinJSBridge")
    reused: bool = False
    order_nos: list[str]


class PaymentOut(BaseModel):
    out_trade_no: str
    status: str
    amount_fen: int
    method: str
    order_nos: list[str]
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    return_url: str


class RefundIn(BaseModel):
    order_no: OrderNo
    amount_fen: Fen = Field(gt=0)
    reason: str = Field(default="", max_length=80)


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    out_refund_no: str
    order_id: int
    amount_fen: int
    status: str
    reason: str
    ref: str
    created_at: datetime


class RefundOutcomeIn(BaseModel):
    outcome: Literal["success", "closed", "abnormal"]


class RefundModeIn(BaseModel):
    mode: Literal["success", "processing"]

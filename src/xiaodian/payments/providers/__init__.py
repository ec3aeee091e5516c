"""The payment provider chosen by ``settings.payment_provider`` (see ``base.py``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from xiaodian import settings as settings_module
from xiaodian.payments.providers.base import PaymentProvider
from xiaodian.payments.providers.sandbox import SandboxProvider, load_keys
from xiaodian.payments.providers.wechatpay import WeChatPayProvider
from xiaodian.settings import Settings

NOTIFY_PATH = "/api/v1/payments/notify"


def notify_url(settings: Settings) -> str:
    return settings.wechatpay_notify_url or settings.public_base_url.rstrip("/") + NOTIFY_PATH


def sandbox_dir(settings: Settings) -> Path:
    assert settings.data_dir is not None
    return Path(settings.data_dir) / "sandbox"


def get_provider(db: Session) -> PaymentProvider:
    """The configured provider; the sandbox works in ``db`` (its "WeChat side" tables)."""
    settings = settings_module.current()
    if settings.payment_provider == "wechatpay":
        return _wechatpay(
            settings.wechatpay_mchid,
            settings.wechatpay_appid,
            settings.wechatpay_apiv3_key,
            settings.wechatpay_cert_serial_no,
            str(settings.wechatpay_private_key_path or ""),
            str(settings.wechatpay_public_key_path or ""),
            settings.wechatpay_public_key_id,
            str(settings.wechatpay_cert_dir or ""),
            notify_url(settings),
        )
    return get_sandbox(db)


def get_sandbox(db: Session) -> SandboxProvider:
    settings = settings_module.current()
    directory = sandbox_dir(settings)
    return SandboxProvider(
        db, keys=load_keys(directory), key_dir=directory, notify_url=notify_url(settings)
    )


@lru_cache(maxsize=4)
def _wechatpay(
    mchid: str,
    appid: str,
    apiv3_key: str,
    serial: str,
    private_key_path: str,
    public_key_path: str,
    public_key_id: str,
    cert_dir: str,
    url: str,
) -> WeChatPayProvider:
    public_key = Path(public_key_path).read_text() if public_key_path else None
    return WeChatPayProvider(
        mchid=mchid,
        appid=appid,
        apiv3_key=apiv3_key,
        cert_serial_no=serial,
        private_key=Path(private_key_path).read_text(),
        notify_url=url,
        public_key=public_key,
        public_key_id=public_key_id or None if public_key else None,
        cert_dir=cert_dir or None,
    )

"""Configuration, read from ``XIAODIAN_*`` environment variables.

A missing or malformed setting fails at start with a message naming it
(``SettingsError``), never later in the middle of a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xiaodian.db import Database, Pool

DEFAULT_DATA_DIR = Path("data")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAODIAN_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    secret_key: str = Field(default="", description="signs sessions and CSRF tokens")
    media_dir: Path | None = None
    redis_url: str = ""
    # Connections per process (PostgreSQL): processes x (size + overflow) must stay below the
    # server's max_connections (100 by default, 3 of them for superusers).
    db_pool_size: int = Field(default=10, ge=1, le=500)
    db_max_overflow: int = Field(default=5, ge=0, le=500)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=300, description="seconds")
    redis_prefix: str = Field(
        default="xd:",
        min_length=1,
        max_length=64,
        description="starts every Redis key and pub/sub channel xiaodian writes",
    )

    # uploads
    max_image_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_video_bytes: int = Field(default=100 * 1024 * 1024, gt=0)

    # accounts
    session_days: int = Field(default=14, gt=0)
    lockout_failures: int = Field(default=10, gt=0)
    lockout_minutes: int = Field(default=15, gt=0)
    cookie_secure: bool = False

    # trading (used from the trading issue on)
    order_payment_timeout_minutes: int = Field(default=15, gt=0)
    order_auto_complete_days: int = Field(default=10, gt=0)
    aftersales_auto_approve_hours: int = Field(default=48, gt=0)
    payment_provider: Literal["sandbox", "wechatpay"] = "sandbox"
    public_base_url: str = "http://127.0.0.1:8000"

    # payments
    wechatpay_mchid: str = Field(default="", validate_default=True, description="商户号")
    wechatpay_appid: str = Field(default="", validate_default=True)
    wechatpay_apiv3_key: str = Field(default="", validate_default=True, description="32 bytes")
    wechatpay_cert_serial_no: str = Field(
        default="", validate_default=True, description="serial of the merchant API certificate"
    )
    wechatpay_private_key_path: Path | None = Field(default=None, validate_default=True)
    wechatpay_cert_dir: Path | None = Field(
        default=None, description="platform certificates (instead of the platform public key)"
    )
    wechatpay_public_key_path: Path | None = Field(
        default=None, validate_default=True, description="WeChat Pay platform public key (PEM)"
    )
    wechatpay_public_key_id: str = Field(default="", validate_default=True)
    wechatpay_transfer_scene_id: str = Field(
        default="1005", description="商家转账's scene for withdrawals (1005: 佣金报酬)"
    )
    wechatpay_notify_url: str = Field(
        default="", description="default: PUBLIC_BASE_URL/api/v1/payments/notify"
    )
    payment_reconcile_after_minutes: int = Field(default=5, gt=0)

    # logistics (tracking pushes in Kuaidi100's format)
    logistics_push_salt: str = Field(
        default="", description="the salt given when subscribing; default: from SECRET_KEY"
    )
    logistics_stale_hours: int = Field(default=72, gt=0, description="no news: attention")
    logistics_sandbox: bool = Field(default=True, description="play parcels' journeys locally")

    @field_validator(
        "wechatpay_mchid",
        "wechatpay_appid",
        "wechatpay_apiv3_key",
        "wechatpay_cert_serial_no",
        "wechatpay_private_key_path",
        "wechatpay_public_key_path",
        "wechatpay_public_key_id",
    )
    @classmethod
    def _check_wechatpay(cls, value: object, info: ValidationInfo) -> object:
        """``payment_provider=wechatpay`` needs every one of these (the key files must exist)."""
        if info.data.get("payment_provider") != "wechatpay":
            return value
        name = info.field_name or ""
        if name in ("wechatpay_public_key_path", "wechatpay_public_key_id") and info.data.get(
            "wechatpay_cert_dir"
        ):
            return value  # platform certificate mode
        if not value:
            raise ValueError("required when XIAODIAN_PAYMENT_PROVIDER=wechatpay")
        if isinstance(value, Path) and not value.is_file():
            raise ValueError(f"no such file: {value}")
        if name == "wechatpay_apiv3_key" and len(str(value).encode()) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        return value

    # ledger: settlement after the after-sales window, fees in basis points (60 = 0.6%)
    ledger_settlement_days: int = Field(
        default=7, ge=0, le=90, description="days after completion until income settles"
    )
    ledger_payment_fee_bp: int = Field(
        default=60, ge=0, le=10000, description="the payment provider's fee (WeChat Pay 0.6%)"
    )
    ledger_platform_fee_bp: int = Field(
        default=100, ge=0, le=10000, description="platform fee of a category without a rate"
    )
    # withdrawals (提现): the smallest one, how many a shop may ask for a day, and what the
    # sandbox payout answers (success; fail; processing: an operator decides later)
    ledger_withdrawal_min_fen: int = Field(
        default=100, ge=1, le=10**11, description="the smallest withdrawal, in fen (¥1)"
    )
    ledger_withdrawals_per_day: int = Field(
        default=1, ge=1, le=100, description="withdrawals a shop may request per day"
    )
    ledger_payout_mode: Literal["success", "fail", "processing"] = Field(
        default="success", description="what the sandbox payout of a withdrawal answers"
    )
    # profit sharing (分账): payments made while it is on are frozen at WeChat Pay until
    # split; at settlement the platform fee goes to ``profit_sharing_platform_mchid`` (left
    # with the collecting account when empty) and promoters' commission to their WeChat,
    # within the collecting merchant's maximum ratio; the rest is unfrozen
    profit_sharing: bool = Field(
        default=False, description="create payments with profit_sharing and split them"
    )
    profit_sharing_platform_mchid: str = Field(
        default="", max_length=32, description="merchant number receiving the platform fee"
    )
    profit_sharing_platform_name: str = Field(
        default="",
        max_length=100,
        validate_default=True,
        description="that merchant's full name (receivers/add)",
    )
    profit_sharing_max_ratio_bp: int = Field(
        default=3000, ge=0, le=10000, description="the collecting merchant's maximum ratio"
    )

    @field_validator("profit_sharing_platform_name")
    @classmethod
    def _check_sharing_name(cls, value: str, info: ValidationInfo) -> str:
        """WeChat Pay adds a merchant receiver only with its full name."""
        if info.data.get("profit_sharing_platform_mchid") and not value.strip():
            raise ValueError("required when XIAODIAN_PROFIT_SHARING_PLATFORM_MCHID is set")
        return value

    # external products (种草 elsewhere): the shops' domains a creator's card may lead to
    external_domains: str = Field(
        default="jd.com,tmall.com,taobao.com,yangkeduo.com,pinduoduo.com",
        max_length=1000,
        description="comma-separated domains external product cards may redirect to",
    )

    # WeChat official account (公众号): sign-in (网页授权), JS-SDK, order messages. "sandbox"
    # plays WeChat's servers locally (the demo, tests); "official" talks to api.weixin.qq.com.
    wechat_mode: Literal["sandbox", "official"] = "sandbox"
    wechat_app_id: str = Field(
        default="",
        validate_default=True,
        description="the official account's AppID (the same as WeChat Pay's appid)",
    )
    wechat_app_secret: str = Field(
        default="", validate_default=True, description="the official account's AppSecret"
    )
    wechat_template_shipped: str = Field(default="", description="message template id: shipped")
    wechat_template_paid: str = Field(default="", description="message template id: paid")
    wechat_template_completed: str = Field(
        default="", description="message template id: delivered / completed"
    )
    wechat_template_aftersale: str = Field(
        default="", description="message template id: after-sales case changed"
    )
    wechat_messages_per_hour: int = Field(
        default=10, ge=1, le=1000, description="order messages per buyer per hour"
    )

    @field_validator("wechat_app_id", "wechat_app_secret")
    @classmethod
    def _check_wechat(cls, value: str, info: ValidationInfo) -> str:
        """``wechat_mode=official`` needs the official account's AppID and AppSecret."""
        if info.data.get("wechat_mode") == "official" and not value:
            raise ValueError("required when XIAODIAN_WECHAT_MODE=official")
        return value

    # catalog
    prohibited_words: str = Field(
        default="",
        description="extra prohibited words for product screening, comma separated",
    )

    # background work
    worker_in_process: bool = False

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://")
        return value

    def resolved(self) -> Settings:
        """Fill the settings derived from ``data_dir`` and make the directories."""
        data_dir = self.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        media_dir = (self.media_dir or data_dir / "media").resolve()
        media_dir.mkdir(parents=True, exist_ok=True)
        database_url = self.database_url or f"sqlite:///{data_dir / 'xiaodian.db'}"
        secret_key = self.secret_key or _load_or_create_secret(data_dir)
        return self.model_copy(
            update={
                "data_dir": data_dir,
                "media_dir": media_dir,
                "database_url": database_url,
                "secret_key": secret_key,
            }
        )

    def db_pool(self) -> Pool:
        return Pool(
            size=self.db_pool_size, max_overflow=self.db_max_overflow, timeout=self.db_pool_timeout
        )

    def database(self) -> Database:
        """A ``Database`` on ``database_url`` with this deployment's pool."""
        return Database(self.database_url, pool=self.db_pool())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _load_or_create_secret(data_dir: Path) -> str:
    """The embedded deployment keeps a generated secret beside its database."""
    import secrets

    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise SettingsError naming the bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "XIAODIAN_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
    return settings.resolved()


_current: Settings | None = None


def install(settings: Settings) -> None:
    """Make ``settings`` the ones services read through ``current()``."""
    global _current
    _current = settings


def current() -> Settings:
    if _current is None:
        install(load_settings())
    assert _current is not None
    return _current

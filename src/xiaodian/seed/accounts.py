"""Demo accounts: an operator, merchants, buyers, creators (password demo1234)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xiaodian.accounts.models import User
from xiaodian.accounts.security import hash_password
from xiaodian.settings import Settings

BUYERS = ["小王", "李娜", "张伟", "陈静", "刘洋", "杨帆"]
CREATORS = ["穿搭阿May", "茶语小林", "美食探店老周"]
MERCHANTS = ["花间服饰 店主", "云岭茶园 店主", "拾光文创 店主", "新商家 申请人"]


def run(db: Session, settings: Settings) -> dict[str, Any]:
    from xiaodian.seed import DEMO_PASSWORD

    password_hash = hash_password(DEMO_PASSWORD)  # one hash for all: seeding stays fast
    ctx: dict[str, Any] = {"password_hash": password_hash}
    operator = User(
        email="ops@xiaodian.test",
        display_name="平台运营",
        password_hash=password_hash,
        is_operator=True,
    )
    db.add(operator)
    ctx["operator"] = operator
    ctx["merchants"] = [
        User(phone=f"1380000000{i + 1}", display_name=name, password_hash=password_hash)
        for i, name in enumerate(MERCHANTS)
    ]
    ctx["buyers"] = [
        User(phone=f"1390000000{i + 1}", display_name=name, password_hash=password_hash)
        for i, name in enumerate(BUYERS)
    ]
    ctx["creators"] = [
        User(
            phone=f"1370000000{i + 1}",
            display_name=name,
            password_hash=password_hash,
            is_creator=True,
        )
        for i, name in enumerate(CREATORS)
    ]
    db.add_all(ctx["merchants"] + ctx["buyers"] + ctx["creators"])
    db.flush()
    return ctx

from __future__ import annotations
from typing import Any
import pytest
from sqlalchemy.orm import Session
from tests.orders.conftest import Scene

def _csrf(c: Any) -> str:
    return str(c.cookies.get("xd_csrf", ""))

@pytest.mark.parametrize("case", range(12))
def test_probe(db: Session, scene: Scene, login_client: Any, api_client: Any, case: int) -> None:
    c = login_client(scene.buyer)
    a = api_client(scene.buyer)
    t = _csrf(c)
    if case == 0:
        r = c.post("/checkout", data={"csrf_token": t, "sku_id": "9"*30, "quantity": "1", "address_id": str(scene.address_id)})
    elif case == 1:
        r = c.post("/checkout", data={"csrf_token": t, "sku_id": str(scene.sku_id), "quantity": "1", "address_id": "²"})
    elif case == 2:
        r = c.post("/cart/checkout", data={"csrf_token": t, "item": "9"*30})
    elif case == 3:
        r = c.post("/cart/checkout", data={"csrf_token": t, "item": "²"})
    elif case == 4:
        r = a.post("/api/v1/merchant/shops/%d/orders/ship-batch" % scene.shop.id, files={"file": ("a.csv", b"x", "text/csv")})
    elif case == 5:
        a2 = api_client(scene.owner)
        r = a2.post("/api/v1/merchant/shops/%d/orders/ship-batch" % scene.shop.id, files={"file": ("a.csv", b'"' + b"a"*200000 + b'"\n', "text/csv")})
    elif case == 6:
        r = a.post("/api/v1/checkout", content=b"{bad", headers={"content-type": "application/json"})
    elif case == 7:
        r = a.post("/api/v1/checkout", json={"lines": [{"sku_id": scene.sku_id, "quantity": 1}], "address_id": scene.address_id}, headers={"Idempotency-Key": "é"*50})
    elif case == 8:
        r = a.post("/api/v1/checkout", json={"lines": [{"sku_id": scene.sku_id, "quantity": 1}], "address_id": scene.address_id}, headers={"Idempotency-Key": "short"})
    elif case == 9:
        r = c.post("/checkout", data={"csrf_token": t, "sku_id": str(scene.sku_id), "quantity": "1", "address_id": "9"*12, "form_key": "x"})
    elif case == 10:
        r = a.get("/api/v1/merchant/shops/%d/orders/export.csv?from=2026-13-01" % scene.shop.id)
    elif case == 11:
        a2 = api_client(scene.owner)
        r = a2.post("/api/v1/merchant/shops/%d/orders/ship-batch" % scene.shop.id, files={"file": ("a.csv", "订单号,快递,单号\n".encode("gbk"), "text/csv")})
    print(case, r.status_code, r.text[:300])
    assert r.status_code < 500

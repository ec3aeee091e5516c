"""The affiliates' scene: a shop with two products, its owner, promoters and a buyer, all
driven over HTTP as their apps and browsers do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import make_address, make_product, make_shop
from tests.ledger.conftest import ledger_sandbox_keys, sandbox, trade  # noqa: F401 (fixtures)
from xiaodian.affiliates.models import Click, Lock, Plan, Touch
from xiaodian.orders import service as orders_service

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) MicroMessenger/8.0"}


@dataclass
class Scene:
    app: Any
    db: Any
    owner: Any
    shop: Any
    product: Any
    other: Any  # a second product of the shop
    merchant: TestClient

    def api(self, user: Any) -> TestClient:
        return self._api(user)

    _api: Any = None

    def plan(self, product_id: int | None = None, **body: Any) -> Any:
        body.setdefault("kind", "open")
        body.setdefault("rate_pct", 10)
        body.setdefault("starts_at", "2000-01-01T00:00:00Z")
        return self.merchant.post(
            f"/api/v1/merchant/shops/{self.shop.id}/affiliate-plans",
            json={"product_id": product_id or self.product.id, **body},
        )

    def link(self, promoter: Any, **body: Any) -> str:
        body = body or {"product_id": self.product.id}
        r = self.api(promoter).post("/api/v1/affiliates/links", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    def browser(self) -> TestClient:
        return TestClient(self.app, headers=BROWSER)

    def buy(self, client: TestClient, buyer: Any, product: Any = None) -> int:
        """Checkout over the API from ``client`` (its cookies ride along); the order id."""
        product = product or self.product
        self.db.rollback()
        address_id = make_address(self.db, buyer.id)
        token = _token(self.db, buyer)
        r = client.post(
            "/api/v1/checkout",
            json={
                "lines": [{"sku_id": product.skus[0].id, "quantity": 1}],
                "address_id": address_id,
                "from_cart": False,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        self.db.rollback()
        no = r.json()["orders"][0]["order_no"]
        order_id = orders_service.get_order_by_no(self.db, order_no=no).id
        self.db.rollback()
        return order_id

    def touches(self, order_id: int) -> list[Touch]:
        self.db.rollback()
        rows = list(self.db.scalars(select(Touch).where(Touch.order_id == order_id)))
        for row in rows:
            self.db.expunge(row)  # kept as read; the session ends its read at once
        self.db.rollback()
        return rows

    def counts(self) -> dict[str, int]:
        self.db.rollback()
        found = {
            name: len(list(self.db.scalars(select(model))))
            for name, model in (("plans", Plan), ("clicks", Click), ("locks", Lock))
        }
        self.db.rollback()
        return found


def _token(db: Any, user: Any) -> str:
    from xiaodian.accounts import service

    token = service.issue_token(db, user_id=user.id)
    db.commit()
    return token


@pytest.fixture
def scene(app: Any, db: Any, make_user: Any, api_client: Any) -> Scene:
    owner = make_user()
    shop = make_shop(db, owner)
    product = make_product(db, shop, skus=[("标准", 10000, 100)])
    other = make_product(db, shop, skus=[("标准", 5000, 100)])
    return Scene(app, db, owner, shop, product, other, api_client(owner), api_client)

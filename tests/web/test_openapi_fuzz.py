"""Schemathesis over the JSON API's OpenAPI document (``/openapi.json``): every operation
gets a bounded number of generated requests (valid and invalid ones, from a fixed seed so
a run can be repeated), sent through the app by a buyer, a shop owner or an operator. No
answer may be a 5xx, and each must be one the document lists for the operation: its
status, its content type and its body's schema.

Each operation is a test of its own with the project's fixtures: a fresh database
(SQLite, and PostgreSQL when ``XIAODIAN_TEST_POSTGRES_URL`` is set) and an app from
``create_app``, seeded with a shop, a product on sale, an address, an order and a live
room, so the small ids the generator likes (1, 2...) exist and the happy paths run too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_address, make_product, make_shop
from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.app import create_app
from xiaodian.content.live import service as live
from xiaodian.db import Database
from xiaodian.orders.checkout import checkout
from xiaodian.settings import Settings

# Each operation's fixed cost (a database, an app and the framework's first routing) is
# several times that of a request: a few examples each reach the edge's branches (types,
# bounds, unknown and known ids) and keep both backends' run near a minute on two cores.
MAX_EXAMPLES = 5
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240601,
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
OPERATOR_PATHS = ("/api/v1/ops/", "/api/v1/payments/refunds", "/api/v1/payments/sandbox/")
MERCHANT_PATHS = ("/api/v1/merchant/", "/api/v1/shops/{shop_id}/products", "/api/v1/live/rooms")


@dataclass
class Fuzzing:
    client: TestClient
    database: Database
    tokens: dict[str, str]
    user_ids: dict[str, int]

    def token_for(self, path: str) -> str:
        if path.startswith(OPERATOR_PATHS):
            return self.tokens["operator"]
        if path.startswith(MERCHANT_PATHS):
            return self.tokens["merchant"]
        return self.tokens["buyer"]

    def send(self, case: Any) -> Any:
        token = self.token_for(case.path)
        if case.path == "/api/v1/auth/logout":
            # Signing out revokes the token it carries: give it one of its own.
            with self.database.session() as session:
                token = accounts_service.issue_token(session, user_id=self.user_ids["buyer"])
        kwargs = case.as_transport_kwargs(
            base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}
        )
        # Encoded the way Schemathesis means it (it speaks ``requests``), sent through the
        # app's own test client (which runs its lifespan) as the bytes it produced.
        prepared = requests.Request(**kwargs).prepare()
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        assert prepared.method is not None and prepared.url is not None
        return self.client.request(
            prepared.method, prepared.url, content=prepared.body, headers=headers
        )


@pytest.fixture
def fuzzing(app: Any, database: Database, make_user: Any) -> Iterator[Fuzzing]:
    buyer = make_user(display_name="买家")
    merchant = make_user(display_name="店主", creator=True)
    operator = make_user(display_name="运营", operator=True)
    with database.session() as db:
        shop = make_shop(db, merchant)
        product = make_product(db, shop)
        address_id = make_address(db, buyer.id)
        checkout(
            db,
            Actor(user_id=buyer.id),
            lines=[(product.skus[0].id, 1)],
            address_id=address_id,
            from_cart=False,
        )
        live.create_room(
            db,
            Actor(user_id=merchant.id, shop_roles={shop.id: "owner"}),
            live.RoomInput(
                title="直播",
                scheduled_at=clock.now() + timedelta(hours=1),
                shop_id=shop.id,
                product_ids=[product.id],
            ),
        )
        users = {"buyer": buyer.id, "merchant": merchant.id, "operator": operator.id}
        tokens = {
            role: accounts_service.issue_token(db, user_id=user_id)
            for role, user_id in users.items()
        }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Fuzzing(client=client, database=database, tokens=tokens, user_ids=users)


def _openapi_document() -> dict[str, Any]:
    """The app's ``/openapi.json``, read once when the tests are collected (the document
    depends on no data: an app over an empty in-memory database answers it)."""
    previous = settings_module._current
    database = Database("sqlite://")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            conf = Settings(data_dir=Path(tmp), secret_key="fuzz-" + "x" * 40).resolved()
            app = create_app(conf, database=database)
            response = TestClient(app).get("/openapi.json")
            assert response.status_code == 200, response.text
            document: dict[str, Any] = response.json()
            return document
    finally:
        database.dispose()
        settings_module._current = previous


# Left out: the rooms' event streams. They never end (a snapshot, then events as they
# happen), so a request would only stop at a timeout; the live tests check their answers.
# The payment notifications are in: a forged one must be refused with a 4xx.
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG).exclude(
    path_regex=r"/events$"
)


@schema.parametrize()
# The scene is set once per operation, not once per generated request: on purpose.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_server_errors_and_only_documented_statuses(case: Any, fuzzing: Fuzzing) -> None:
    response = fuzzing.send(case)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )

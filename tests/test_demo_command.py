"""``xiaodian demo`` as a newcomer runs it: a real process on a port other than 8000, and
a sandbox payment that completes (the sandbox's notification must reach THIS server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from xiaodian.seed import DEMO_PASSWORD


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the demo did not start")


def test_the_demo_takes_a_payment_on_another_port(tmp_path: Path) -> None:
    port = _free_port()
    data = str(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAODIAN_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "xiaodian.cli", "demo", "--port", str(port), "--data-dir", data],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        with httpx.Client(base_url=url, timeout=10) as client:
            token = client.post(
                "/api/v1/auth/token", json={"login": "13900000001", "password": DEMO_PASSWORD}
            ).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            address_id = client.post(
                "/api/v1/addresses",
                json={
                    "name": "王小明",
                    "phone": "13900000001",
                    "province": "浙江省",
                    "city": "杭州市",
                    "district": "西湖区",
                    "detail": "文三路 1 号",
                },
                headers=auth,
            ).json()["id"]
            product_id = client.get("/api/v1/products").json()["items"][0]["id"]
            sku = client.get(f"/api/v1/products/{product_id}").json()["skus"][0]
            checkout = client.post(
                "/api/v1/checkout",
                json={
                    "lines": [{"sku_id": sku["id"], "quantity": 1}],
                    "address_id": address_id,
                    "from_cart": False,
                },
                headers=auth,
            )
            assert checkout.status_code == 201, checkout.text
            order_nos = [o["order_no"] for o in checkout.json()["orders"]]
            payment = client.post(
                "/api/v1/payments",
                json={"order_nos": order_nos, "method": "sandbox"},
                headers=auth,
            ).json()
            assert payment["cashier_url"].startswith(f"{url}/"), payment["cashier_url"]
            paid = client.post(
                f"/sandbox/cashier/{payment['out_trade_no']}/pay",
                headers={**auth, "Accept": "application/json"},
            )
            assert paid.status_code == 200, paid.text
            # The sandbox delivers its signed notification over HTTP, as WeChat Pay does.
            deadline = time.monotonic() + 20
            status = ""
            while time.monotonic() < deadline:
                status = client.get(
                    f"/api/v1/payments/{payment['out_trade_no']}", headers=auth
                ).json()["status"]
                if status == "paid":
                    break
                time.sleep(0.2)
            assert status == "paid"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()

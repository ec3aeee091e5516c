"""Reconciliation with WeChat Pay's bills: the bill format read exactly (Decimal, never a
float), a day the sandbox and xiaodian agree on has no break, every kind of difference is a
break in the operators' queue, a bill not ready is asked for again, a malformed or forged
one is refused with nothing of it used."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from tests.ledger.conftest import Trade
from xiaodian.actor import Actor
from xiaodian.errors import Conflict, InvalidInput, PermissionDenied
from xiaodian.ledger import reconciliation
from xiaodian.ledger.models import BillStatus, ReconciliationBreak, ReconciliationRun
from xiaodian.payments import bills
from xiaodian.payments.models import SandboxTrade, SandboxTradeState
from xiaodian.payments.providers import sandbox_bills

DAY = date(2026, 6, 18)
MORNING = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
NEXT_DAY_11 = datetime(2026, 6, 19, 3, 0, tzinfo=UTC)  # 11:00 in Beijing, the bill is ready


def _at(clock: Any, moment: datetime) -> None:
    clock.advance(moment - clock.now())


# --------------------------------------------------------------------------- the format


def _line(at: str, number: str, total: int, **kw: Any) -> bills.TradeLine:
    return bills.TradeLine(
        at=datetime.fromisoformat(at).replace(tzinfo=bills.BUSINESS_TZ),
        appid="wx1",
        mchid="1900000109",
        transaction_id="4200" + number,
        out_trade_no=number,
        openid="o1",
        trade_type="NATIVE",
        description="测试, 商品",
        total_fen=total,
        fee_fen=kw.pop("fee", 0),
        rate="0.60%",
        **kw,
    )


def test_trade_bill_written_and_read_back_exactly() -> None:
    text = bills.render_trade_bill(
        [
            _line("2026-06-18 09:00:00", "P1", 10, fee=0),
            _line("2026-06-18 10:00:00", "P2", 123_456_789, fee=740_741),
            _line(
                "2026-06-18 11:00:00",
                "P2",
                0,
                fee=3,
                refund_id="5030",
                out_refund_no="R1",
                refund_fen=500,
                refund_status="SUCCESS",
            ),
        ]
    )
    lines = text.splitlines()
    assert len(lines[0].split(",")) == 27 and lines[1].startswith("`2026-06-18 09:00:00,`wx1")
    assert ",`0,`," in lines[1]  # 特约商户号 0 for a direct merchant
    assert "`1234567.89" in lines[2] and "`7407.41000" in lines[2]
    bill = bills.parse_trade_bill(gzip.compress(text.encode()))
    assert [r.status for r in bill.rows] == ["SUCCESS", "SUCCESS", "REFUND"]
    assert bill.rows[1].total_fen == 123_456_789 and bill.rows[1].fee_fen == 740_741
    assert bill.rows[2].refund_fen == 500 and bill.rows[2].fee_fen == -3
    assert bill.rows[2].out_refund_no == "R1"
    assert bill.total_fen == 123_456_799 and bill.refund_fen == 500


def test_amounts_are_decimal_fen() -> None:
    assert bills.fen("0.10", field="x") + bills.fen("0.20", field="x") == 30
    assert bills.fen("-3.00", field="x") == -300
    assert bills.fen("0.00600", field="fee", fee=True) == 1  # 0.6 fen, half up
    assert bills.fen("0.00400", field="fee", fee=True) == 0
    for bad in ("1.005", "abc", "NaN", "Infinity", "1e30", ""):
        with pytest.raises(bills.MalformedBill):
            bills.fen(bad, field="x")


def _good_trade_text() -> str:
    return bills.render_trade_bill([_line("2026-06-18 09:00:00", "P1", 1000, fee=6)])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("交易时间", "时间", 1),  # not WeChat Pay's header
        lambda t: t.replace("`1,`10.00", "`2,`10.00"),  # the count announced is wrong
        lambda t: t.replace(
            "`1,`10.00,`0.00,`0.00,`0.06000,`10.00", "`1,`10.01,`0.00,`0.00,`0.06000,`10.00"
        ),
        lambda t: t.replace("`10.00", "`10.001", 1),  # a third decimal
        lambda t: t.replace(",`NATIVE", ",NATIVE"),  # a field without its backtick
        lambda t: t.replace(",`NATIVE", ",`NATIVE,`extra"),  # one field too many
        lambda t: t.split("总交易单数")[0],  # no summary
        lambda t: t + "`trailing garbage\n",
        lambda t: "",
    ],
)
def test_malformed_trade_bills_are_refused(mangle: Any) -> None:
    text = mangle(_good_trade_text())
    with pytest.raises(bills.MalformedBill):
        bills.parse_trade_bill(text.encode())


def test_refund_bill_has_two_more_columns_and_bad_bytes_are_refused() -> None:
    text = _good_trade_text().splitlines()
    text[0] += ",退款申请时间,退款成功时间"
    text[1] += ",`2026-06-18 09:00:00,`2026-06-18 09:00:01"
    assert len(bills.parse_trade_bill("\n".join(text).encode()).rows) == 1
    with pytest.raises(bills.MalformedBill):
        bills.parse_trade_bill(b"\x1f\x8bnot gzip")
    with pytest.raises(bills.MalformedBill):
        bills.parse_trade_bill(b"\xff\xfe\x00")


def test_fund_flow_bill_round_trip() -> None:
    at = datetime(2026, 6, 18, 9, tzinfo=bills.BUSINESS_TZ)
    text = bills.render_fund_flow_bill(
        [
            bills.FundLine(at, "4200P1", "F1", "交易", "交易", "收入", 1000, "P1"),
            bills.FundLine(at, "4200P1", "F2", "交易", "扣除交易手续费", "支出", 6, "P1"),
        ]
    )
    bill = bills.parse_fund_flow_bill(text.encode())
    assert (bill.income_fen, bill.expense_fen) == (1000, 6)
    assert bill.rows[1].balance_fen == 994
    with pytest.raises(bills.MalformedBill):
        bills.parse_fund_flow_bill(text.replace("`2,`1,`10.00", "`2,`1,`10.01").encode())


# --------------------------------------------------------------------------- with the sandbox


def _scene(trade: Trade, clock: Any) -> dict[str, Any]:
    """Two orders paid on DAY, one of them refunded in part."""
    _at(clock, MORNING)
    _shop, _owner, sku = trade.shop(price=12_345)
    buyer = trade.buyer()
    first = trade.buy(buyer, [(sku, 1)])
    trade.pay(buyer, first)
    second = trade.buy(buyer, [(sku, 2)])
    trade.pay(buyer, second)
    trade.refund(second[0], 1_000)
    return {"first": first[0], "second": second[0]}


def _open_breaks(database: Any) -> list[tuple[str, str, str]]:
    with database.session() as db:
        rows = db.scalars(
            select(ReconciliationBreak).where(ReconciliationBreak.resolved_at.is_(None))
        ).all()
        return sorted((b.kind, b.issue, b.ref) for b in rows)


def _reconcile(database: Any, day: date = DAY) -> dict[str, ReconciliationRun]:
    with database.session() as db:
        runs = reconciliation.reconcile_day(db, day)
        db.commit()
        for run in runs:
            db.expunge(run)
        return {run.kind: run for run in runs}


def test_a_day_that_agrees_has_no_break_and_reruns_change_nothing(
    trade: Trade, clock: Any, database: Any
) -> None:
    _scene(trade, clock)
    _at(clock, NEXT_DAY_11)
    runs = _reconcile(database)
    assert {k: (r.status, r.rows, r.breaks) for k, r in runs.items()} == {
        "trade": (BillStatus.DONE, 3, 0),
        "fundflow": (BillStatus.DONE, 5, 0),
    }, {k: r.error for k, r in runs.items()}
    assert _open_breaks(database) == []
    again = _reconcile(database)
    assert again["trade"].attempts == 2 and again["trade"].breaks == 0


def test_before_ten_the_bill_is_not_ready_and_the_job_asks_again(
    trade: Trade, clock: Any, database: Any
) -> None:
    _scene(trade, clock)
    _at(clock, NEXT_DAY_11 - timedelta(hours=2))  # 09:00 in Beijing
    with database.session() as db:
        assert reconciliation.due_days(db) == [DAY]
        assert reconciliation.reconcile_due(db) == 1
    with database.session() as db:
        statuses = db.scalars(select(ReconciliationRun.status)).all()
        assert set(statuses) == {BillStatus.NOT_READY}
        assert reconciliation.due_days(db) == [DAY]
    _at(clock, NEXT_DAY_11)
    with database.session() as db:
        assert reconciliation.reconcile_due(db) == 1
    with database.session() as db:
        assert set(db.scalars(select(ReconciliationRun.status)).all()) == {BillStatus.DONE}
        assert reconciliation.due_days(db) == []


def test_a_day_without_trades_is_empty(trade: Trade, clock: Any, database: Any) -> None:
    _at(clock, NEXT_DAY_11)
    runs = _reconcile(database)
    assert {r.status for r in runs.values()} == {BillStatus.EMPTY}
    assert _open_breaks(database) == []


def test_every_difference_is_a_break_and_operators_resolve_them(
    trade: Trade, clock: Any, database: Any, make_user: Any, monkeypatch: Any
) -> None:
    orders = _scene(trade, clock)
    with database.session() as db:
        trades = db.scalars(select(SandboxTrade).order_by(SandboxTrade.id)).all()
        first, second = trades[0].out_trade_no, trades[1].out_trade_no
        # WeChat Pay saw another amount for the first, a trade we never heard of, and
        # nothing of the second (its refund row goes with it)
        db.execute(update(SandboxTrade).where(SandboxTrade.id == trades[0].id).values(amount_fen=1))
        db.execute(delete(SandboxTrade).where(SandboxTrade.id == trades[1].id))
        db.add(
            SandboxTrade(
                out_trade_no="STRANGER1",
                transaction_id="4200000000000000000001",
                mchid="1900000109",
                appid="wx1",
                trade_type="NATIVE",
                description="?",
                amount_fen=777,
                notify_url="http://x",
                state=SandboxTradeState.SUCCESS,
                success_time=MORNING + timedelta(hours=1),
            )
        )
        db.commit()
    _at(clock, NEXT_DAY_11)
    _reconcile(database)
    found = _open_breaks(database)
    assert ("trade", "amount", first) in found
    assert ("trade", "missing_ours", "STRANGER1") in found
    assert ("trade", "missing_theirs", second) in found
    assert ("fundflow", "missing_theirs", second) in found
    assert ("fundflow", "missing_ours", "STRANGER1") in found
    refunds = [b for b in found if b[0] == "trade" and b[1] == "missing_theirs" and b[2] != second]
    assert len(refunds) == 1  # the refund of the second order, missing with its trade
    assert orders  # (the scene's orders stay as they were: nothing is posted)
    again = _reconcile(database)
    assert again["trade"].breaks == len([b for b in found if b[0] == "trade"])

    operator = trade.operator
    buyer = Actor(user_id=make_user().id)
    with database.session() as db:
        queue = reconciliation.breaks(db, operator)
        assert [b.opened_at for b in queue] == sorted(b.opened_at for b in queue)
        target = queue[0].id
        with pytest.raises(InvalidInput):
            reconciliation.resolve_break(db, operator, target, note="  ")
        with pytest.raises(PermissionDenied):
            reconciliation.resolve_break(db, buyer, target, note="ok")
        with pytest.raises(PermissionDenied):
            reconciliation.breaks(db, buyer)
        reconciliation.resolve_break(db, operator, target, note="已与微信支付核实")
        db.commit()
    with database.session() as db, pytest.raises(Conflict):
        reconciliation.resolve_break(db, operator, target, note="again")
    assert len(_open_breaks(database)) == len(found) - 1


def test_a_wrong_fee_rate_is_a_break(
    trade: Trade, clock: Any, database: Any, monkeypatch: Any
) -> None:
    _scene(trade, clock)
    monkeypatch.setattr(sandbox_bills, "fee_of", lambda amount: (amount * 100 + 5_000) // 10_000)
    _at(clock, NEXT_DAY_11)
    _reconcile(database)
    issues = {(kind, issue) for kind, issue, _ref in _open_breaks(database)}
    assert ("trade", "fee") in issues and ("fundflow", "fee") in issues


def test_a_file_not_the_one_announced_or_a_forged_token_is_refused(
    trade: Trade, clock: Any, database: Any, monkeypatch: Any
) -> None:
    _scene(trade, clock)
    _at(clock, NEXT_DAY_11)
    real_apply = sandbox_bills.apply

    def wrong_hash(db: Any, kind: str, day: date) -> Any:
        found = real_apply(db, kind, day)
        return type(found)(found.download_url, "SHA1", "0" * 40)

    monkeypatch.setattr(sandbox_bills, "apply", wrong_hash)
    runs = _reconcile(database)
    assert {r.status for r in runs.values()} == {BillStatus.MALFORMED}
    assert "SHA1" in runs["trade"].error

    def forged(db: Any, kind: str, day: date) -> Any:
        found = real_apply(db, kind, day)
        url = found.download_url.rsplit(".", 1)[0] + ".forged"
        return type(found)(url, "SHA1", found.hash_value)

    monkeypatch.setattr(sandbox_bills, "apply", forged)
    runs = _reconcile(database)
    assert {r.status for r in runs.values()} == {BillStatus.FAILED}
    assert "SIGN_ERROR" in runs["trade"].error
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(ReconciliationBreak)) == 0


def test_today_cannot_be_reconciled(trade: Trade, clock: Any, database: Any) -> None:
    _at(clock, NEXT_DAY_11)
    with database.session() as db, pytest.raises(InvalidInput):
        reconciliation.run_for_operator(db, trade.operator, date(2026, 6, 19))


def test_the_operators_page(
    trade: Trade, clock: Any, database: Any, login_client: Any, make_user: Any
) -> None:
    _scene(trade, clock)
    with database.session() as db:
        db.execute(delete(SandboxTrade).where(SandboxTrade.out_trade_no.is_not(None)))
        db.commit()
    _at(clock, NEXT_DAY_11)
    with database.session() as db:
        operator_user = db.get(type(make_user()), trade.operator.user_id)
        db.expunge(operator_user)
    client = login_client(operator_user)
    token = client.cookies.get("xd_csrf", "")
    bad = client.post("/ops/reconciliation/run", data={"csrf_token": token, "day": "18/06"})
    assert bad.status_code == 422
    done = client.post(
        "/ops/reconciliation/run",
        data={"csrf_token": token, "day": DAY.isoformat()},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/ops/reconciliation"
    page = client.get("/ops/reconciliation")
    assert page.status_code == 200 and 'data-issue="missing_theirs"' in page.text
    with database.session() as db:
        target = db.scalars(select(ReconciliationBreak.id)).first()
    empty = client.post(
        f"/ops/reconciliation/breaks/{target}/resolve", data={"csrf_token": token, "note": ""}
    )
    assert empty.status_code == 422
    ok = client.post(
        f"/ops/reconciliation/breaks/{target}/resolve",
        data={"csrf_token": token, "note": "补单"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    buyer = login_client(make_user())
    assert buyer.get("/ops/reconciliation").status_code == 403

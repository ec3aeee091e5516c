"""The merchants demo seed on an empty database."""

from __future__ import annotations

from sqlalchemy import select

from xiaodian.merchants.models import (
    ApplicationEvent,
    MemberRole,
    MerchantApplication,
    Shop,
    ShopMember,
)
from xiaodian.merchants.uscc import is_valid
from xiaodian.seed import accounts as seed_accounts
from xiaodian.seed import merchants as seed_merchants


def test_seed_gives_four_open_shops_and_a_queue(database, settings, media_files):
    with database.session() as db:
        ctx = seed_accounts.run(db, settings)
        seed_merchants.run(db, settings, ctx)
        db.commit()
        assert [s.name for s in ctx["shops"]] == ["花间衣橱", "山野茶铺", "小熊母婴", "数码小站"]
        assert ctx["shops_by_name"]["山野茶铺"] is ctx["shops"][1]

    with database.session() as db:
        shops = db.scalars(select(Shop).order_by(Shop.id)).all()
        assert len(shops) == 4
        assert len({s.main_category_id for s in shops}) == 4
        assert all(s.logo_path and s.description for s in shops)
        assert set(media_files()) >= {s.logo_path for s in shops}

        apps = db.scalars(select(MerchantApplication).order_by(MerchantApplication.id)).all()
        by_status = {str(a.status): [x for x in apps if x.status == a.status] for a in apps}
        assert len(by_status["approved"]) == 4
        assert len(by_status["submitted"]) == 1
        assert len(by_status["rejected"]) == 1 and by_status["rejected"][0].reject_reason
        assert all(is_valid(a.license_no) for a in apps)
        operator_id = ctx["operator"].id
        for a in by_status["approved"]:
            events = db.scalars(
                select(ApplicationEvent)
                .where(ApplicationEvent.application_id == a.id)
                .order_by(ApplicationEvent.id)
            ).all()
            assert [(e.action, e.actor_id) for e in events] == [
                ("submitted", a.applicant_id),
                ("approved", operator_id),
            ]
        pending = by_status["submitted"][0]
        assert pending.applicant_id not in {a.applicant_id for a in by_status["approved"]}

        members = db.scalars(select(ShopMember)).all()
        assert sum(m.role == MemberRole.OWNER for m in members) == 4
        assert [m.shop_id for m in members if m.role == MemberRole.STAFF] == [shops[0].id]

"""The domains of xiaodian, lowest first (the layers of ``pyproject.toml``'s contracts).

The kernel knows no domain: what needs all of them (the migrations, the app, the worker)
asks this module, which sits on top with them. ``load()`` imports every domain's service
module and the modules that register listeners (``aftersales.refunds``), so each domain's
listeners are registered with the lifecycle hooks of the domains below it before any work
is done (a process that imported only orders would otherwise pay orders without telling
after-sales or the ledger).
"""

from __future__ import annotations


def load_models() -> None:
    """Import every table's model, so ``Base.metadata`` knows them all (migrations)."""
    import xiaodian.accounts.models
    import xiaodian.affiliates.models
    import xiaodian.aftersales.models
    import xiaodian.campaigns.models
    import xiaodian.cases.models
    import xiaodian.catalog.models
    import xiaodian.categories.models
    import xiaodian.content.live.models
    import xiaodian.content.models
    import xiaodian.follows.models
    import xiaodian.health.models
    import xiaodian.ledger.models
    import xiaodian.logistics.models
    import xiaodian.merchants.models
    import xiaodian.orders.models
    import xiaodian.payments.models
    import xiaodian.realtime  # (infrastructure with a table of its own: the outbox)
    import xiaodian.reviews.models
    import xiaodian.violations.models
    import xiaodian.wechat.models  # noqa: F401


def load() -> None:
    """Import every domain's service and its listeners. Idempotent."""
    load_models()
    import xiaodian.accounts.service
    import xiaodian.affiliates.agencies
    import xiaodian.affiliates.attribution
    import xiaodian.affiliates.commissions
    import xiaodian.affiliates.service
    import xiaodian.affiliates.sharers
    import xiaodian.aftersales.refunds
    import xiaodian.aftersales.service
    import xiaodian.campaigns.claims
    import xiaodian.campaigns.discounts
    import xiaodian.campaigns.groups
    import xiaodian.campaigns.redemption
    import xiaodian.campaigns.service
    import xiaodian.cases.service
    import xiaodian.catalog.service
    import xiaodian.categories.service
    import xiaodian.content.live.flash_returns
    import xiaodian.content.live.service
    import xiaodian.content.service
    import xiaodian.follows.service
    import xiaodian.health.hooks
    import xiaodian.health.service
    import xiaodian.ledger.income
    import xiaodian.ledger.service
    import xiaodian.logistics.service
    import xiaodian.logistics.shipping
    import xiaodian.merchants.service
    import xiaodian.orders.service
    import xiaodian.payments.service
    import xiaodian.reviews.service
    import xiaodian.violations.hooks
    import xiaodian.violations.service
    import xiaodian.wechat.messages
    import xiaodian.wechat.service  # noqa: F401

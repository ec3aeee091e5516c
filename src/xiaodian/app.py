"""The application factory: routers, templates, static files, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from xiaodian import __version__, domains, media, realtime
from xiaodian import settings as settings_module
from xiaodian.accounts import authcache
from xiaodian.db import Database
from xiaodian.settings import Settings
from xiaodian.web import errors as web_errors
from xiaodian.web.csrf import verify_csrf
from xiaodian.web.middleware import RequestContextMiddleware

STATIC_DIR = __import__("pathlib").Path(__file__).parent / "web" / "static"


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        """The fast path outside everything else, even the framework's error middleware:
        the hottest requests (bearer buys of flash sales, coupon claims after the last
        coupon went, the everyday purchase's checkout, payment and notification) skip the
        per-request framework work, and event streams get the server's own ``send`` (so
        they can be handed over to the fan-out thread, ``xiaodian.fanout``)."""
        from xiaodian.campaigns import fastpath as campaigns_fastpath
        from xiaodian.content.live import fastpath as live_fastpath
        from xiaodian.orders import fastpath as orders_fastpath
        from xiaodian.payments import fastpath as payments_fastpath
        from xiaodian.web.fastpath import FastPath

        routes = (
            *live_fastpath.ROUTES,
            *campaigns_fastpath.ROUTES,
            *orders_fastpath.ROUTES,
            *payments_fastpath.ROUTES,
        )
        return FastPath(super().build_middleware_stack(), routes)


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    domains.load()
    settings_module.install(settings)
    db = database or settings.database()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Publish/subscribe (infrastructure): live rooms, and buyers waiting for a payment.
        realtime.configure_for(db, settings.redis_url, settings.redis_prefix)
        await realtime.hub.start()
        _size_worker_threads(db)
        consumer = None
        if settings.worker_in_process:
            from xiaodian import tasks

            tasks.configure(settings, database=db)
            consumer = tasks.start_in_process()
        yield
        await realtime.hub.stop()
        if consumer is not None:
            consumer.stop(graceful=True)
        if database is None:
            db.dispose()

    app = _App(
        title="xiaodian",
        version=__version__,
        description="小店: a closed-loop content-commerce platform. JSON API under /api/v1.",
        dependencies=[Depends(verify_csrf)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.authenticate = authcache.actor_for_token  # who is asking (web.deps)
    app.add_middleware(
        RequestContextMiddleware,
        secret_key=settings.secret_key,
        max_body=max(settings.max_image_bytes, settings.max_video_bytes) + 1024 * 1024,
        secure=settings.cookie_secure,
    )
    web_errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    assert settings.media_dir is not None
    public_media = media.PublicMedia(directory=settings.media_dir, check_dir=False)
    app.mount("/media", public_media, name="media")  # without the private folders
    _include_routers(app)
    return app


def _size_worker_threads(db: Database) -> None:
    """On PostgreSQL, as many worker threads as the pool has connections: a request then
    waits for a thread (in order, without a deadline) rather than holding one while it waits
    for a connection (and is told 503 after the pool's timeout), so a crowd of 256 buyers
    is served, queued, with no error. SQLite keeps anyio's 40 (its writers queue on the
    writer lock, its readers do not wait)."""
    if db.is_sqlite:
        return
    pool: Any = db.engine.pool
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(1, pool.size() + max(0, pool._max_overflow))


def _include_routers(app: FastAPI) -> None:
    from xiaodian.web import health
    from xiaodian.wechat import pages as wechat_pages

    # Starlette tries the routers in turn, each route's pattern in turn: the everyday
    # purchase's routers (checkout, payment, the cashier) come first so its requests are
    # matched at once. No two routers answer the same path, so the order decides nothing
    # else (tests/web/test_route_order.py).
    app.include_router(health.router)
    _include_api_routers(app)
    _include_page_routers(app)
    app.state.sign_in_url = wechat_pages.sign_in_url  # inside WeChat: WeChat's authorization


def _include_api_routers(app: FastAPI) -> None:
    from xiaodian.accounts import api as accounts_api
    from xiaodian.affiliates import api as affiliates_api
    from xiaodian.aftersales import api as aftersales_api
    from xiaodian.campaigns import api as campaigns_api
    from xiaodian.cases import api as cases_api
    from xiaodian.catalog import api as catalog_api
    from xiaodian.catalog.storefront import api as storefront_api
    from xiaodian.content import api as content_api
    from xiaodian.content.live import api as live_api
    from xiaodian.follows import api as follows_api
    from xiaodian.ledger import api as ledger_api
    from xiaodian.logistics import api as logistics_api
    from xiaodian.logistics import shipping_api as logistics_shipping_api
    from xiaodian.merchants import api as merchants_api
    from xiaodian.orders import api as orders_api
    from xiaodian.payments import api as payments_api
    from xiaodian.reviews import api as reviews_api
    from xiaodian.violations import api as violations_api
    from xiaodian.wechat import api as wechat_api

    for module in (
        orders_api,
        payments_api,
        accounts_api,
        merchants_api,
        catalog_api,
        storefront_api,
        aftersales_api,
        ledger_api,
        content_api,
        live_api,
        campaigns_api,
        reviews_api,
        logistics_api,
        logistics_shipping_api,
        affiliates_api,
        follows_api,
        cases_api,
        violations_api,
        wechat_api,
    ):
        app.include_router(module.router, prefix="/api/v1")


def _include_page_routers(app: FastAPI) -> None:
    from xiaodian.accounts import pages as accounts_pages
    from xiaodian.affiliates import agency_pages as affiliates_agency_pages
    from xiaodian.affiliates import pages as affiliates_pages
    from xiaodian.affiliates import sharer_pages as affiliates_sharer_pages
    from xiaodian.aftersales import pages as aftersales_pages
    from xiaodian.campaigns import group_pages as campaigns_group_pages
    from xiaodian.campaigns import pages as campaigns_pages
    from xiaodian.cases import pages as cases_pages
    from xiaodian.catalog import pages as catalog_pages
    from xiaodian.catalog.storefront import pages as storefront_pages
    from xiaodian.console import pages as console_pages
    from xiaodian.content import pages as content_pages
    from xiaodian.content.live import pages as live_pages
    from xiaodian.follows import pages as follows_pages
    from xiaodian.health import pages as health_pages
    from xiaodian.ledger import pages as ledger_pages
    from xiaodian.logistics import pages as logistics_pages
    from xiaodian.merchants import pages as merchants_pages
    from xiaodian.ops import pages as ops_pages
    from xiaodian.orders import pages as orders_pages
    from xiaodian.payments import pages as payments_pages
    from xiaodian.reviews import pages as reviews_pages
    from xiaodian.violations import pages as violations_pages
    from xiaodian.wechat import pages as wechat_pages

    for module in (
        payments_pages,
        accounts_pages,
        merchants_pages,
        console_pages,
        catalog_pages,
        storefront_pages,
        orders_pages,
        aftersales_pages,
        ledger_pages,
        content_pages,
        live_pages,
        campaigns_pages,
        campaigns_group_pages,
        reviews_pages,
        health_pages,
        logistics_pages,
        affiliates_pages,
        affiliates_sharer_pages,
        affiliates_agency_pages,
        follows_pages,
        cases_pages,
        ops_pages,
        violations_pages,
        wechat_pages,
    ):
        app.include_router(module.router)

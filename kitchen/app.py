"""create_app(settings) -> Litestar: the only place that wires plugins and routes."""

from __future__ import annotations

import functools
import gc
from datetime import timedelta
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar, Request
from litestar._asgi.utils import wrap_in_exception_handler
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kitchen.analytics.api import AnalyticsController
from kitchen.analytics.figures import AnalyticsQueries
from kitchen.analytics.tuning import Tuning, tuning_for
from kitchen.analytics.views import DashboardController
from kitchen.auth.guards import known_principal
from kitchen.auth.keys import ApiKeyCache
from kitchen.auth.service import Credentials
from kitchen.auth.throttle import Throttle
from kitchen.auth.views import ManageController, SignInController
from kitchen.board.live import BoardHub, create_api_key_cache, create_channels, create_feed
from kitchen.board.recent import RecentController
from kitchen.board.render import BoardRenderer
from kitchen.board.views import BoardController, brands_css, home
from kitchen.brands.api import BrandController
from kitchen.brands.service import BrandService
from kitchen.cli import KitchenCLIPlugin
from kitchen.clock import Clock, system_clock
from kitchen.db import create_db_config, create_engine
from kitchen.errors import EXCEPTION_HANDLERS
from kitchen.gate import RequestGate, RestoreSlashes
from kitchen.health import health, ready
from kitchen.http import KitchenRequest
from kitchen.load.api import LoadController
from kitchen.load.service import LoadRules, LoadService, LoadWatch, TypicalOrders
from kitchen.logs import RequestIds, logging_config
from kitchen.menu.api import MenuController
from kitchen.menu.service import MenuService
from kitchen.metrics import PoolSampler, metrics, process_stopped, request_metrics
from kitchen.orders.api import OrderController
from kitchen.orders.service import ChangeFeed, OrderService
from kitchen.orders.stores import OrderStore, store_for
from kitchen.orders.summaries.fold import ShardFolder
from kitchen.pages import create_environment, template_config
from kitchen.pickup.screen import PickupRenderer
from kitchen.pickup.views import PickupController
from kitchen.quiet import QuietWatch
from kitchen.security import LocalSwaggerUI, security_headers_middleware
from kitchen.settings import PROJECT_ROOT, Settings
from kitchen.webhooks.busy import BusyTeller
from kitchen.webhooks.delivery import Deliverer
from kitchen.webhooks.late import LateWatch
from kitchen.webhooks.outbox import Outbox
from kitchen.webhooks.quiet import QuietTeller

STATIC_DIR = PROJECT_ROOT / "static"
SWAGGER_UI = "/static/vendor/swagger-ui/5.35.0"


class KitchenApp(Litestar):
    """Litestar with `RequestGate` in front of its router, and request ids in front of both.

    Litestar's own middleware runs after routing, and the gate must see a request before: it
    refuses control characters that would otherwise reach the file system or the database, and
    keeps an encoded slash inside its path segment for the router. (The one override of a
    Litestar internal here; Litestar is pinned below 3.)
    """

    def _create_asgi_handler(self) -> ASGIApp:
        gated = wrap_in_exception_handler(app=RequestGate(self.asgi_router, self.exception_handlers))
        return RequestIds(gated)  # outermost: even a request the gate refuses has an id


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_clock,
) -> Litestar:
    """Build the app for `settings` (default: from the environment) with an injectable clock."""
    settings = settings or Settings.from_env()
    engine = create_engine(settings)
    db_config = create_db_config(settings, engine)
    channels = create_channels(settings)
    feed = create_feed(settings, channels)
    # The database decides how orders are read and written: chosen here, once (see orders/stores).
    store = store_for(engine.dialect.name)
    tuning = tuning_for(engine.dialect.name)
    templates = create_environment()
    renderer = BoardRenderer(settings, clock, templates)
    pickup = PickupRenderer(templates, clock, settings.stale_after)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    api_keys = create_api_key_cache(channels)
    hub = BoardHub(channels, sessions, renderer, store, api_keys, pickup=pickup)
    folder = ShardFolder(engine, clock)
    pool_sampler = PoolSampler(engine, settings.db_pool_size)
    outbox = Outbox()
    # The boards hear of unanswered alarms; the channels of every alarm, once (brand.quiet / brand.normal).
    quiet_watch = QuietWatch(
        sessions, clock, settings.zone, announce=hub.alarms_changed, tell=QuietTeller(engine, clock, outbox)
    )
    renderer.quiet = lambda: quiet_watch.current
    deliverer = Deliverer(engine, clock, settings)
    outbox.wake = deliverer.wake
    late_watch = LateWatch(engine, clock, settings, outbox)
    # A brand's busy flag flipping is told to the channels (kitchen.busy / kitchen.normal), once.
    load_watch = LoadWatch(sessions, clock, LoadRules.of(settings), on_busy_change=BusyTeller(engine, clock, outbox))
    typical_orders = load_watch.typical  # the API and the watch share the process's week of orders

    return KitchenApp(
        route_handlers=route_handlers(),
        dependencies=dependencies(
            settings, clock, store, feed, tuning, api_keys, renderer, pickup, hub, outbox, typical_orders
        ),
        plugins=[SQLAlchemyPlugin(config=db_config), channels, KitchenCLIPlugin()],
        template_config=template_config(templates),
        on_startup=[
            settle_garbage_collector,
            hub.start,
            folder.start,
            pool_sampler.start,
            quiet_watch.start,
            deliverer.start,  # it reads the outbox again first: events a crash left are sent now
            late_watch.start,
            load_watch.start,
        ],
        # The engine was made here, not by the plugin: close its pooled connections ourselves.
        on_shutdown=[
            load_watch.stop,
            late_watch.stop,
            deliverer.stop,
            quiet_watch.stop,
            pool_sampler.stop,
            folder.stop,
            hub.stop,
            engine.dispose,
            process_stopped,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[request_metrics().middleware, security_headers_middleware, RestoreSlashes()],
        csrf_config=csrf_config(settings),
        request_class=KitchenRequest,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config(),
        logging_config=logging_config(settings.log_level, settings.log_format),
        debug=settings.debug,
        state=State(
            {
                "settings": settings,
                "engine": engine,
                "sessions": sessions,
                "db_config": db_config,
                "board_hub": hub,
                "board_renderer": renderer,
                "quiet_watch": quiet_watch,
                "outbox": outbox,
                "deliverer": deliverer,
                "load_watch": load_watch,
                "clock": clock,
                "api_keys": api_keys,
            }
        ),
    )


def dependencies(
    settings: Settings,
    clock: Clock,
    store: OrderStore,
    feed: ChangeFeed,
    tuning: Tuning,
    api_keys: ApiKeyCache | None,
    renderer: BoardRenderer,
    pickup: PickupRenderer,
    hub: BoardHub,
    outbox: Outbox,
    typical_orders: TypicalOrders,
) -> dict[str, Provide]:
    """What handlers are given: each service with this request's session and the app's choices."""

    def provide_orders(db_session: NamedDependency[AsyncSession], request: Request[Any, Any, Any]) -> OrderService:
        # Every route that changes orders has a guard, which has looked the caller up already.
        principal = known_principal(request)
        return OrderService(
            db_session,
            store,
            clock=clock,
            feed=feed,
            actor=principal.actor if principal else None,
            device=principal.device if principal else None,
            undo_window=timedelta(seconds=settings.undo_seconds),
            outbox=outbox,
        )

    def provide_brand_service(db_session: NamedDependency[AsyncSession]) -> BrandService:
        return BrandService(clock=clock, session=db_session)

    def provide_credentials(db_session: NamedDependency[AsyncSession]) -> Credentials:
        return Credentials(db_session, clock=clock, api_keys=api_keys)

    def provide_menu(db_session: NamedDependency[AsyncSession]) -> MenuService:
        return MenuService(db_session, clock=clock)

    def provide_load(db_session: NamedDependency[AsyncSession]) -> LoadService:
        return LoadService(db_session, clock, LoadRules.of(settings), typical_orders)

    def provide_max_page_size() -> int:
        return settings.max_page_size

    def provide_analytics(db_session: NamedDependency[AsyncSession]) -> AnalyticsQueries:
        return AnalyticsQueries(
            db_session,
            clock=clock,
            zone=settings.zone,
            tuning=tuning,
            pack_seconds=settings.pack_seconds,
            stale_after=settings.stale_after,
        )

    return {
        "orders": Provide(provide_orders, sync_to_thread=False),
        "analytics": Provide(provide_analytics, sync_to_thread=False),
        "brand_service": Provide(provide_brand_service, sync_to_thread=False),
        "credentials": Provide(provide_credentials, sync_to_thread=False),
        "menu": Provide(provide_menu, sync_to_thread=False),
        "load": Provide(provide_load, sync_to_thread=False),
        "max_page_size": Provide(provide_max_page_size, sync_to_thread=False),
        "settings": constant(settings),
        "board_renderer": constant(renderer),
        "pickup_renderer": constant(pickup),
        "board_hub": constant(hub),
        "sign_in_throttle": constant(Throttle(clock)),
    }


def route_handlers() -> list[ControllerRouterHandler]:
    """Every route: the JSON API, the boards and the pickup screen, the dashboard, sign-in and
    management, health, files."""
    return [
        OrderController,
        AnalyticsController,
        BrandController,
        MenuController,
        LoadController,
        BoardController,
        RecentController,
        brands_css,
        PickupController,
        DashboardController,
        SignInController,
        ManageController,
        home,
        health,
        ready,
        metrics,
        create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
    ]


def csrf_config(settings: Settings) -> CSRFConfig:
    """Pages and taps carry a CSRF token; the JSON API does not need one."""
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name="kitchen_csrf",
        header_name="x-csrftoken",
        cookie_httponly=True,  # pages carry the token themselves; scripts never read the cookie
        cookie_samesite="strict",
        cookie_secure=settings.cookie_secure,
        # The JSON API authenticates with a bearer key, which a foreign site cannot send.
        exclude=["^/api/"],
    )


def openapi_config() -> OpenAPIConfig:
    """The API's OpenAPI document and its Swagger UI, served from our own static files."""
    return OpenAPIConfig(
        title="kitchen",
        version="0.1.0",
        description="Orders from delivery channels, their status and history.",
        path="/api",
        components=Components(
            security_schemes={
                # Swagger UI reads the description as Markdown: in a code span `<key>` stays text.
                "ApiKey": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="Send an API key as `Authorization: Bearer <key>`;"
                    " create one with `kitchen api-keys create NAME`.",
                )
            }
        ),
        security=[{"ApiKey": []}],
        render_plugins=[
            LocalSwaggerUI(
                path="/docs",
                js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER_UI}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
                favicon=f'<link rel="icon" type="image/png" href="{SWAGGER_UI}/favicon-32x32.png">',
            )
        ],
    )


def settle_garbage_collector() -> None:
    """Move what start-up made out of the collector's way and collect the young less often.

    A full-board render makes tens of thousands of short-lived objects; with Python's defaults the
    collector kept walking the app's long-lived objects too, and those pauses were the slowest renders.
    """
    if gc.get_freeze_count():
        return  # once per process: a frozen object is never collected, so freezing twice would leak
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def constant(value: object) -> Provide:
    """A dependency that is the same object for every request."""
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


@functools.cache
def _default_app() -> Litestar:
    return create_app()


def __getattr__(name: str) -> Any:
    # `kitchen.app:app` is built on first use, so importing this module has no side effects.
    if name == "app":
        return _default_app()
    raise AttributeError(name)

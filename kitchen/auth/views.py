"""Signing in (managers), pairing (tablets) and the manage page (tablets and API keys)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from kitchen.auth.guards import (
    CSRF_COOKIE,
    DEVICE_HOMES,
    SESSION_COOKIE,
    SESSION_SECONDS,
    manager_only,
    principal_of,
    session_cookies,
)
from kitchen.auth.models import BOARD_ROLE
from kitchen.auth.service import Credentials, Principal
from kitchen.auth.throttle import Throttle, TooManyAttempts
from kitchen.feed import end_sessions
from kitchen.fields import FieldError
from kitchen.menu.service import MenuService
from kitchen.orders.models import ID_LENGTH
from kitchen.pages import page
from kitchen.quiet import answer_alarm
from kitchen.settings import Settings
from kitchen.webhooks.service import WebhookService


class SignInForm(msgspec.Struct, kw_only=True):
    username: str = ""
    password: str = ""
    next: str = "/dashboard"


class PairForm(msgspec.Struct, kw_only=True):
    code: str = ""
    name: str = ""


class PairingCodeForm(msgspec.Struct, kw_only=True):
    role: str = BOARD_ROLE  # the button pressed: a cook's tablet ("board") or a pickup screen ("pickup")


class MuteForm(msgspec.Struct, kw_only=True):
    minutes: str = ""


# A mute longer than a day is a brand switched off, which a quiet alarm should not hide.
MUTE_MINUTES = range(1, 24 * 60 + 1)


class NameForm(msgspec.Struct, kw_only=True):
    name: str = ""


class WebhookForm(msgspec.Struct, kw_only=True):
    integration: str = ""
    url: str = ""
    brands: str = ""  # brand ids, comma-separated


def safe_next(target: str) -> str:
    """Only paths on this site: an open redirect would let a phishing link borrow our login page."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/dashboard"


def client_key(request: Request[Any, Any, Any]) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


async def with_session(
    response: Response[Any], credentials: Credentials, principal: Principal, settings: Settings
) -> Response[Any]:
    """Open a session for `principal`: its cookie, and the CSRF cookie that belongs to it."""
    token, _ = await credentials.open_session(principal)
    for name, value in session_cookies(token, settings.secret_key).items():
        response.set_cookie(
            name,
            value,
            max_age=SESSION_SECONDS[principal.kind],
            httponly=True,
            samesite="strict",
            secure=settings.cookie_secure,
        )
    return response


class SignInController(Controller):
    include_in_schema = False

    @get("/login")
    async def login_page(
        self,
        request: Request[Any, Any, Any],
        next: FromQuery[str] = "/dashboard",
    ) -> Template:
        return page(request, "auth/login.html", {"next": safe_next(next)})

    @post("/login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        settings: NamedDependency[Settings],
        sign_in_throttle: NamedDependency[Throttle],
        data: URLEncodedBody[SignInForm],
    ) -> Response[Any]:
        def again(message: str, status: int, headers: dict[str, str] | None = None) -> Template:
            context = {"next": safe_next(data.next), "error": message}
            return page(request, "auth/login.html", context, status_code=status, headers=headers)

        keys = (client_key(request), f"user:{data.username.strip().lower()}")
        try:
            principal = await sign_in_throttle.attempt(
                credentials.session, keys, lambda: credentials.sign_in(data.username, data.password)
            )
        except TooManyAttempts as exc:
            return again(str(exc), 429, exc.headers)
        if principal is None:
            return again("Wrong username or password.", 401)
        return await with_session(Redirect(safe_next(data.next)), credentials, principal, settings)

    @post("/logout")
    async def logout(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        channels: NamedDependency[ChannelsPlugin],
    ) -> Response[Any]:
        """The session ends at once on every process, its open board streams too."""
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            end_sessions(channels, await credentials.end_session(token))
        response: Response[Any] = Redirect("/login")
        response.delete_cookie(SESSION_COOKIE)
        response.delete_cookie(CSRF_COOKIE)
        return response

    @get("/pair")
    async def pair_page(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "auth/pair.html")

    @post("/pair")
    async def pair(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        settings: NamedDependency[Settings],
        sign_in_throttle: NamedDependency[Throttle],
        data: URLEncodedBody[PairForm],
    ) -> Response[Any]:
        def again(message: str, status: int, headers: dict[str, str] | None = None) -> Template:
            context = {"error": message, "tablet_name": data.name}
            return page(request, "auth/pair.html", context, status_code=status, headers=headers)

        try:
            principal = await sign_in_throttle.attempt(
                credentials.session, (client_key(request),), lambda: credentials.pair_tablet(data.code, data.name)
            )
        except TooManyAttempts as exc:
            return again(str(exc), 429, exc.headers)
        except FieldError as exc:
            return again(str(exc), 400)
        if principal is None:
            return again("That code is wrong, used, expired or burnt. Ask a manager for a new one.", 401)
        return await with_session(Redirect(DEVICE_HOMES[principal.kind]), credentials, principal, settings)


UNMAPPED_WINDOW = timedelta(days=7)


class ManageController(Controller):
    """Managers pair and unpair tablets, manage API keys and see which PLUs no menu routes, here."""

    path = "/manage"
    include_in_schema = False
    guards = [manager_only]

    async def _page(
        self, request: Request[Any, Any, Any], credentials: Credentials, status: int = 200, **shown: object
    ) -> Template:
        settings: Settings = request.app.state.settings
        context = {
            "manager": await principal_of(request),
            "tablets": await credentials.tablets(),
            "api_keys": await credentials.api_keys(),
            # What waits on every station board as "unassigned" until a menu maps it.
            "unmapped": await MenuService(credentials.session).unmapped(credentials.clock() - UNMAPPED_WINDOW),
            "zone": settings.zone,
            "quiet": request.app.state.quiet_watch.current,
            "webhooks": await WebhookService(credentials.session, credentials.clock).statuses(),
            **shown,
        }
        return page(request, "auth/manage.html", context, status_code=status)

    @get("/")
    async def manage_page(self, request: Request[Any, Any, Any], credentials: NamedDependency[Credentials]) -> Template:
        return await self._page(request, credentials)

    @post("/pairing-codes")
    async def new_pairing_code(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        data: URLEncodedBody[PairingCodeForm],
    ) -> Template:
        """A code for one device: a cook's tablet or a pickup screen, by the button pressed."""
        principal = await principal_of(request)
        assert principal is not None  # manager_only let the request in
        try:
            code, expires = await credentials.create_pairing_code(principal, data.role)
        except FieldError as exc:
            return await self._page(request, credentials, 400, error=str(exc))
        return await self._page(
            request, credentials, pairing_code=code, pairing_expires=expires, pairing_role=data.role
        )

    @post("/tablets/{tablet_id:int}/unpair")
    async def unpair(
        self,
        credentials: NamedDependency[Credentials],
        channels: NamedDependency[ChannelsPlugin],
        tablet_id: FromPath[int],
    ) -> Redirect:
        """The device stops at once: its requests, and its open streams on every process."""
        end_sessions(channels, await credentials.unpair_tablet(tablet_id))
        return Redirect("/manage")

    @post("/api-keys")
    async def new_api_key(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        data: URLEncodedBody[NameForm],
    ) -> Template:
        try:
            record, key = await credentials.create_api_key(data.name)
        except FieldError as exc:
            return await self._page(request, credentials, 400, error=str(exc))
        return await self._page(request, credentials, new_key=key, new_key_name=record.name)

    @post("/api-keys/{name:str}/revoke")
    async def revoke_api_key(self, credentials: NamedDependency[Credentials], name: FromPath[str]) -> Redirect:
        # A key already gone is no error: the page shows the current list either way.
        with contextlib.suppress(FieldError):
            await credentials.revoke_api_key(name)
        return Redirect("/manage")

    @post("/webhooks")
    async def set_webhook(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        data: URLEncodedBody[WebhookForm],
    ) -> Template:
        """An integration's callback URL, with a new signing secret shown once."""
        brands = [brand.strip() for brand in data.brands.split(",") if brand.strip()]
        try:
            secret = await WebhookService(credentials.session, credentials.clock).set(
                data.integration, data.url, brands
            )
        except FieldError as exc:
            return await self._page(request, credentials, 400, error=str(exc))
        request.app.state.outbox.forget()  # this process tells it from the next change on
        return await self._page(request, credentials, webhook_secret=secret, webhook_integration=data.integration)

    @post("/webhooks/{webhook_id:int}/retry")
    async def retry_webhook(self, credentials: NamedDependency[Credentials], webhook_id: FromPath[int]) -> Redirect:
        """Its dead events are sent again, from now."""
        if 0 < webhook_id < 2**63:
            await WebhookService(credentials.session, credentials.clock).retry_dead(webhook_id)
        return Redirect("/manage#webhooks")

    @post("/webhooks/{webhook_id:int}/disable")
    async def disable_webhook(
        self, request: Request[Any, Any, Any], credentials: NamedDependency[Credentials], webhook_id: FromPath[int]
    ) -> Redirect:
        service = WebhookService(credentials.session, credentials.clock)
        integration = await service.integration_of(webhook_id) if 0 < webhook_id < 2**63 else None
        if integration is not None:
            await service.disable(integration)
            request.app.state.outbox.forget()
        return Redirect("/manage#webhooks")

    @post("/quiet/{brand_id:str}/seen")
    async def quiet_seen(
        self, request: Request[Any, Any, Any], credentials: NamedDependency[Credentials], brand_id: FromPath[str]
    ) -> Redirect:
        """The brand's alarm is seen: it stays quiet until the brand's next order."""
        await self._answer(request, credentials, brand_id, None)
        return Redirect("/manage")

    @post("/quiet/{brand_id:str}/mute")
    async def quiet_mute(
        self,
        request: Request[Any, Any, Any],
        credentials: NamedDependency[Credentials],
        brand_id: FromPath[str],
        data: URLEncodedBody[MuteForm],
    ) -> Response[Any]:
        """The brand's alarm is muted for some minutes (a brand paused on purpose)."""
        minutes = int(data.minutes) if data.minutes.strip().isdigit() else 0
        if minutes not in MUTE_MINUTES:
            return await self._page(request, credentials, 400, error="Mute for 1 to 1440 minutes.")
        await self._answer(request, credentials, brand_id, timedelta(minutes=minutes))
        return Redirect("/manage")

    async def _answer(
        self, request: Request[Any, Any, Any], credentials: Credentials, brand_id: str, mute_for: timedelta | None
    ) -> None:
        if not 0 < len(brand_id) <= ID_LENGTH:
            raise NotFoundException(f"no brand {brand_id[:ID_LENGTH]!r}")
        principal = await principal_of(request)
        assert principal is not None  # manager_only let the request in
        await answer_alarm(credentials.session, brand_id, principal.actor, credentials.clock(), mute_for)
        await request.app.state.quiet_watch.look()  # every board hears it now, not at the next look

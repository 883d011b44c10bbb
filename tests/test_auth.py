"""Who may do what: API keys for integrations, paired tablets for boards, managers for the rest;
CSRF on every browser form and tap; signed cookies; throttled guessing; security headers."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from litestar import Litestar

from kitchen.auth.guards import SESSION_COOKIE
from kitchen.auth.service import Credentials
from tests.conftest import MANAGER, FakeClock
from tests.helpers import create_order

pytestmark = pytest.mark.anyio


def anonymous(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def csrf(http: httpx.AsyncClient, page: str) -> str:
    """Open a page as a browser would, and return the CSRF token it carries."""
    response = await http.get(page)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', response.text) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', response.text
    )
    assert token is not None, response.text[:300]
    return token.group(1)


# ---- integrations ----


@pytest.mark.parametrize("authorization", [None, "Bearer kit_wrong", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_api_needs_a_valid_key_and_says_how(
    app: Litestar, client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with anonymous(app) as http:
        for method, path in (
            ("GET", "/api/orders"),
            ("POST", "/api/orders"),
            ("GET", "/api/brands"),
            ("GET", "/api/analytics/on-time"),
        ):
            response = await http.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in response.json()["detail"]


async def test_api_docs_and_schema_are_open(app: Litestar, client: httpx.AsyncClient) -> None:
    async with anonymous(app) as http:
        assert (await http.get("/api/openapi.json")).status_code == 200
        assert (await http.get("/api/docs")).status_code == 200
        assert (await http.get("/health")).status_code == 200


async def test_a_revoked_key_stops_working_at_once(app: Litestar, client: httpx.AsyncClient) -> None:
    async with app.state.sessions() as session:
        _, key = await Credentials(session).create_api_key("wolt")
    async with anonymous(app) as http:
        http.headers["Authorization"] = f"Bearer {key}"
        assert (await http.get("/api/orders")).status_code == 200
        async with app.state.sessions() as session:
            # As the app's own services are made: with this process's known keys (other
            # processes forget theirs through the change feed: test_access.py).
            await Credentials(session, api_keys=app.state.api_keys).revoke_api_key("wolt")
        assert (await http.get("/api/orders")).status_code == 401


async def test_only_the_keys_hash_is_stored(app: Litestar, client: httpx.AsyncClient) -> None:
    async with app.state.sessions() as session:
        credentials = Credentials(session)
        _, key = await credentials.create_api_key("foodora")
        stored = next(record for record in await credentials.api_keys() if record.name == "foodora")
    assert key not in (stored.key_hash, stored.prefix)
    assert len(stored.key_hash) == 64


async def test_an_api_key_cannot_use_boards_or_dashboard(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    tap = await client.post(f"/board/orders/{order['id']}/bump", headers={"HX-Request": "true"})
    assert tap.status_code in (401, 403)
    assert (await client.get("/dashboard/panels", headers={"HX-Request": "true"})).status_code == 401


# ---- people in browsers ----


async def test_boards_send_a_stranger_to_pairing_and_refuse_scripts(app: Litestar, client: httpx.AsyncClient) -> None:
    async with anonymous(app) as http:
        page = await http.get("/board", headers={"Accept": "text/html"})
        assert (page.status_code, page.headers["location"]) == (303, "/pair")
        assert (await http.get("/board/stream", headers={"Accept": "text/event-stream"})).status_code == 401
        assert (await http.get("/board/tickets", headers={"HX-Request": "true"})).status_code == 401


async def test_dashboard_sends_a_stranger_to_sign_in(app: Litestar, client: httpx.AsyncClient) -> None:
    async with anonymous(app) as http:
        page = await http.get("/dashboard", headers={"Accept": "text/html"})
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=/dashboard")
        assert (await http.get("/manage/", headers={"Accept": "text/html"})).status_code == 303


async def test_a_tablet_may_use_boards_and_nothing_else(tablet: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    assert (await tablet.get("/board")).status_code == 200
    assert (await tablet.post(f"/board/orders/{order['id']}/lines/1/advance")).status_code == 200
    assert (await tablet.get("/dashboard", headers={"Accept": "text/html"})).status_code == 403
    assert (await tablet.get("/manage/", headers={"Accept": "text/html"})).status_code == 403
    assert (await tablet.post("/manage/api-keys", data={"name": "sneaky"})).status_code == 403
    assert (await tablet.get("/api/orders")).status_code == 401


async def test_a_tablet_opening_the_dashboard_gets_a_page_that_says_what_it_may_open(tablet: httpx.AsyncClient) -> None:
    page = await tablet.get("/dashboard", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Grill tablet" in page.text
    assert 'href="/board"' in page.text
    # A script asking (no text/html) still gets the JSON error shape.
    assert (await tablet.get("/dashboard/panels")).json()["code"] == "forbidden"


async def test_a_manager_sees_dashboard_manage_and_boards(manager: httpx.AsyncClient) -> None:
    for page in ("/dashboard", "/manage/", "/board"):
        assert (await manager.get(page)).status_code == 200, page


async def test_sign_in_sets_a_signed_httponly_samesite_cookie(app: Litestar, client: httpx.AsyncClient) -> None:
    async with app.state.sessions() as session:
        await Credentials(session).create_manager(*MANAGER)
    async with anonymous(app) as http:
        token = await csrf(http, "/login")
        wrong = await http.post("/login", data={"username": MANAGER[0], "password": "nope", "_csrf_token": token})
        assert wrong.status_code == 401
        assert SESSION_COOKIE not in http.cookies
        right = await http.post(
            "/login",
            data={"username": MANAGER[0], "password": MANAGER[1], "next": "/manage/", "_csrf_token": token},
        )
        assert (right.status_code, right.headers["location"]) == (302, "/manage/") or right.status_code == 303
        cookie = right.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert (await http.get("/dashboard")).status_code == 200
        # A tampered cookie is no session.
        http.cookies.set(SESSION_COOKIE, http.cookies[SESSION_COOKIE][:-2] + "xx")
        assert (await http.get("/dashboard", headers={"Accept": "text/html"})).status_code == 303


async def test_sign_in_refuses_redirects_off_the_site(app: Litestar, client: httpx.AsyncClient) -> None:
    async with app.state.sessions() as session:
        await Credentials(session).create_manager(*MANAGER)
    async with anonymous(app) as http:
        token = await csrf(http, "/login")
        response = await http.post(
            "/login",
            data={"username": MANAGER[0], "password": MANAGER[1], "next": "//evil.example/", "_csrf_token": token},
        )
        assert response.headers["location"] == "/dashboard"


async def test_guessing_passwords_is_throttled(app: Litestar, client: httpx.AsyncClient) -> None:
    async with app.state.sessions() as session:
        await Credentials(session).create_manager(*MANAGER)
    async with anonymous(app) as http:
        token = await csrf(http, "/login")
        codes = [
            (
                await http.post("/login", data={"username": MANAGER[0], "password": f"guess{n}", "_csrf_token": token})
            ).status_code
            for n in range(6)
        ]
        assert codes == [401] * 5 + [429]
        # Even the right password waits now.
        right = await http.post("/login", data={"username": MANAGER[0], "password": MANAGER[1], "_csrf_token": token})
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) > 0


async def test_pairing_a_tablet_with_a_code_from_a_manager(
    app: Litestar, manager: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    page = await manager.post("/manage/pairing-codes")
    code = re.search(r'<b class="code">(\d{6})</b>', page.text)
    assert code is not None
    async with anonymous(app) as tablet:
        token = await csrf(tablet, "/pair")
        paired = await tablet.post("/pair", data={"code": code.group(1), "name": "Grill", "_csrf_token": token})
        assert (paired.status_code, paired.headers["location"]) == (302, "/board") or paired.status_code == 303
        assert (await tablet.get("/board")).status_code == 200
        assert "Grill" in (await manager.get("/manage/")).text
    async with anonymous(app) as second:
        token = await csrf(second, "/pair")
        reused = await second.post("/pair", data={"code": code.group(1), "name": "Other", "_csrf_token": token})
        assert reused.status_code == 401


async def test_a_pairing_code_expires(app: Litestar, manager: httpx.AsyncClient, clock: FakeClock) -> None:
    code = re.search(r'<b class="code">(\d{6})</b>', (await manager.post("/manage/pairing-codes")).text)
    assert code is not None
    async with app.state.sessions() as session:
        credentials = Credentials(session, clock=lambda: clock.now + timedelta(minutes=11))
        assert await credentials.pair_tablet(code.group(1), "Late tablet") is None


async def test_an_unpaired_tablet_is_signed_out(
    app: Litestar, tablet: httpx.AsyncClient, manager: httpx.AsyncClient
) -> None:
    tablet_id = re.search(r"/manage/tablets/(\d+)/unpair", (await manager.get("/manage/")).text)
    assert tablet_id is not None
    await manager.post(f"/manage/tablets/{tablet_id.group(1)}/unpair")
    assert (await tablet.get("/board", headers={"Accept": "text/html"})).status_code == 303


async def test_a_manager_creates_and_revokes_api_keys_on_the_page(app: Litestar, manager: httpx.AsyncClient) -> None:
    page = await manager.post("/manage/api-keys", data={"name": "uber"})
    key = re.search(r'<code class="code">(kit_[^<]+)</code>', page.text)
    assert key is not None
    async with anonymous(app) as http:
        http.headers["Authorization"] = f"Bearer {key.group(1)}"
        assert (await http.get("/api/orders")).status_code == 200
        await manager.post("/manage/api-keys/uber/revoke")
        assert (await http.get("/api/orders")).status_code == 401


# ---- CSRF ----


async def test_taps_and_forms_without_the_csrf_token_are_refused(
    tablet: httpx.AsyncClient, manager: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    order = await create_order(client)
    for browser, path in ((tablet, f"/board/orders/{order['id']}/bump"), (manager, "/manage/pairing-codes")):
        token = browser.headers.pop("x-csrftoken")
        refused = await browser.post(path)
        assert refused.status_code == 403, path
        browser.headers["x-csrftoken"] = "forged" + token[6:]
        assert (await browser.post(path)).status_code == 403, path
        browser.headers["x-csrftoken"] = token
    assert (await client.get(f"/api/orders/{order['id']}")).json()["status"] == "RECEIVED"


async def test_sign_in_form_needs_its_csrf_token(app: Litestar, client: httpx.AsyncClient) -> None:
    async with anonymous(app) as http:
        await http.get("/login")
        assert (await http.post("/login", data={"username": "a", "password": "b"})).status_code == 403


# ---- headers ----


@pytest.mark.parametrize("page", ["/login", "/pair", "/api/docs"])
async def test_html_responses_carry_security_headers(app: Litestar, client: httpx.AsyncClient, page: str) -> None:
    async with anonymous(app) as http:
        response = await http.get(page)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), "no inline scripts"

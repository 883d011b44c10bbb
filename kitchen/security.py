"""Security headers on every response, and Swagger UI without inline script."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: htmx, our scripts and Swagger UI all come from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI's bundle (5.35.0) inserts one <style> element of its own when it starts: the docs page
# allows exactly that element by its hash, and nothing else inline (the browser test checks that
# the console stays clean). A new Swagger UI version needs its hash here.
SWAGGER_UI_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self';", f"style-src 'self' {SWAGGER_UI_STYLE};"
)
DOCS_PATH = "/api/docs"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        policy = DOCS_CONTENT_SECURITY_POLICY if scope["path"] == DOCS_PATH else CONTENT_SECURITY_POLICY
        headers = [(b"content-security-policy", policy.encode()), *SECURITY_HEADERS]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in headers if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


class LocalSwaggerUI(SwaggerRenderPlugin):
    """Litestar's Swagger page starts Swagger UI with an inline script, which our CSP forbids;
    this one loads the same vendored assets and a small init script from /static."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"]
        spec_url = json.dumps("/api/openapi.json")
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} API</title>
{self.favicon}
<meta name="viewport" content="width=device-width, initial-scale=1">
<link href="{self.css_url}" rel="stylesheet">
<script src="{self.js_url}" defer></script>
<script src="{self.standalone_preset_js_url}" defer></script>
<script src="/static/js/swagger-init.js" defer></script>
</head><body><div id="swagger-container" data-spec-url={spec_url}></div></body></html>""".encode()

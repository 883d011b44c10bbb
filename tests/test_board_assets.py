"""Front-end assets: htmx is vendored and served by the app, byte for byte, and no script is inline."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from kitchen.settings import PROJECT_ROOT

pytestmark = pytest.mark.anyio

HTMX_DIR = PROJECT_ROOT / "static" / "vendor" / "htmx" / "4.0.1"


def recorded_checksums() -> dict[str, str]:
    lines = (HTMX_DIR / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


async def test_served_htmx_matches_its_recorded_checksum(client: httpx.AsyncClient) -> None:
    checksums = recorded_checksums()
    assert set(checksums) == {"htmx.min.js", "ext/hx-sse.min.js"}
    for name, digest in checksums.items():
        response = await client.get(f"/static/vendor/htmx/4.0.1/{name}")
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == digest, name
    assert (HTMX_DIR / "LICENSE").read_text().startswith("Zero-Clause BSD")


async def test_board_page_loads_only_local_scripts_and_no_inline_ones(tablet: httpx.AsyncClient) -> None:
    page = (await tablet.get("/board")).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts
    for attributes, body in scripts:
        source = re.search(r'src="([^"]+)"', attributes)
        assert source is not None, attributes
        assert source.group(1).startswith("/static/"), attributes
        assert body.strip() == ""
        assert (await tablet.get(source.group(1))).status_code == 200
    assert "/static/vendor/htmx/4.0.1/htmx.min.js" in page
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"
    assert "style=" not in page, "no inline styles"

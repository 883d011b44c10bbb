"""The one Jinja environment, and pages rendered from it.

Litestar renders every full page from it (`TemplateConfig`, so a handler returns a `Template`);
the board's live hub renders ticket and board fragments from the same environment as strings,
outside any request. One set of templates, one configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from kitchen.http import csrf_token
from kitchen.settings import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "templates"


def create_environment(directory: Path = TEMPLATES_DIR) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(("html", "css")),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def template_config(environment: Environment) -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, object] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """A full page; its forms carry this browser's CSRF token (as `csrf_token`, a string)."""
    return Template(
        template,
        context={"csrf_token": csrf_token(request), **(context or {})},
        status_code=status_code,
        headers=headers,
        media_type=MediaType.HTML,
    )

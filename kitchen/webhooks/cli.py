"""`kitchen webhooks ...`: an integration's callback from the command line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy import select

from kitchen.cli_session import with_service
from kitchen.webhooks.models import Webhook
from kitchen.webhooks.service import WebhookService

T = TypeVar("T")


def with_webhooks(work: Callable[[WebhookService], Awaitable[T]]) -> T:
    return with_service(WebhookService, work)


@click.group(name="webhooks", help="Status callbacks to the delivery channels' integrations.")
def webhooks_group() -> None:
    pass


@webhooks_group.command(name="set", help="Send NAME's orders' status changes to URL; prints a new secret, once.")
@click.argument("name")
@click.argument("url")
@click.option("--brand", "brands", multiple=True, help="also every order of this brand (repeatable)")
def set_webhook(name: str, url: str, brands: tuple[str, ...]) -> None:
    secret = with_webhooks(lambda service: service.set(name, url, list(brands)))
    click.echo(f"Webhook of {name!r} sends to {url}. Its signing secret, not shown again:")
    click.echo(secret)


@webhooks_group.command(name="list", help="Every webhook: URL, delivered, pending, failing, dead, last error.")
def list_webhooks() -> None:
    for w in with_webhooks(lambda service: service.statuses()):
        state = "disabled" if w.disabled else "enabled"
        brands = f"\tbrands {','.join(w.brand_ids)}" if w.brand_ids else ""
        click.echo(
            f"{w.integration}\t{w.url}\t{state}\tdelivered {w.delivered}\tpending {w.pending}"
            f"\tfailing {w.failing}\tdead {w.dead}{brands}\tlast error: {w.last_error or '-'}"
        )


@webhooks_group.command(name="disable", help="Stop sending; pending events wait until it is set again.")
@click.argument("name")
def disable_webhook(name: str) -> None:
    if not with_webhooks(lambda service: service.disable(name)):
        raise click.ClickException(f"{name!r} has no webhook")
    click.echo(f"Webhook of {name!r} disabled.")


@webhooks_group.command(name="retry", help="Send NAME's dead events again.")
@click.argument("name")
def retry_webhook(name: str) -> None:
    async def retry(service: WebhookService) -> int | None:
        webhook_id = await service.session.scalar(select(Webhook.id).where(Webhook.integration == name))
        return None if webhook_id is None else await service.retry_dead(webhook_id)

    retried = with_webhooks(retry)
    if retried is None:
        raise click.ClickException(f"{name!r} has no webhook")
    click.echo(f"{retried} dead events of {name!r} will be sent again.")

"""Setting up webhooks (a manager, on /manage or with `kitchen webhooks`), and how each is doing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.models import ApiKey
from kitchen.clock import Clock, system_clock
from kitchen.fields import FieldError
from kitchen.webhooks.models import URL_LENGTH, OutboxEvent, Webhook
from kitchen.webhooks.signing import new_secret


class UnknownIntegration(FieldError):
    def __init__(self, name: str) -> None:
        super().__init__("integration", f"integration: no API key is called {name!r}")


@dataclass(frozen=True, slots=True)
class WebhookStatus:
    """One integration's webhook as the manage page shows it."""

    id: int
    integration: str
    url: str
    brand_ids: list[str]
    disabled: bool
    delivered: int
    pending: int
    failing: int  # pending, and failed at least once
    dead: int
    last_error: str | None


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > URL_LENGTH:
        raise FieldError("url", f"url: an http(s) address of at most {URL_LENGTH} characters")
    return url


class WebhookService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def set(self, integration: str, url: str, brand_ids: list[str] | None = None) -> str:
        """Point `integration`'s webhook at `url` (enabled), with a new signing secret: returned once."""
        url = check_url(url)
        known = await self.session.scalar(select(ApiKey.id).where(ApiKey.name == integration))
        if known is None:
            raise UnknownIntegration(integration)
        secret = new_secret()
        brands = msgspec.json.encode(sorted(set(brand_ids or []))).decode()
        webhook = await self.session.scalar(select(Webhook).where(Webhook.integration == integration))
        if webhook is None:
            webhook = Webhook(integration=integration, created_at=self.clock())
            self.session.add(webhook)
        webhook.url, webhook.secret, webhook.brand_ids, webhook.disabled_at = url, secret, brands, None
        await self.session.commit()
        return secret

    async def disable(self, integration: str) -> bool:
        """Stop sending (pending events wait, and go when it is set again); False if it had none."""
        result = await self.session.execute(
            update(Webhook).where(Webhook.integration == integration).values(disabled_at=self.clock())
        )
        await self.session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]  # a CursorResult

    async def integration_of(self, webhook_id: int) -> str | None:
        return await self.session.scalar(select(Webhook.integration).where(Webhook.id == webhook_id))

    async def retry_dead(self, webhook_id: int) -> int:
        """Send the dead events of a webhook again, from now: how many."""
        result = await self.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.webhook_id == webhook_id, OutboxEvent.dead_at.is_not(None))
            .values(dead_at=None, attempts=0, next_attempt_at=self.clock(), claimed_until=None)
        )
        await self.session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]  # a CursorResult

    async def statuses(self) -> list[WebhookStatus]:
        pending = OutboxEvent.delivered_at.is_(None) & OutboxEvent.dead_at.is_(None)
        counts = (
            select(
                OutboxEvent.webhook_id,
                func.count(OutboxEvent.delivered_at).label("delivered"),
                func.sum(case((pending, 1), else_=0)).label("pending"),
                func.sum(case((pending & (OutboxEvent.attempts > 0), 1), else_=0)).label("failing"),
                func.count(OutboxEvent.dead_at).label("dead"),
            )
            .group_by(OutboxEvent.webhook_id)
            .subquery()
        )
        last_error = (
            select(OutboxEvent.last_error)
            .where(OutboxEvent.webhook_id == Webhook.id, OutboxEvent.last_error.is_not(None))
            .order_by(OutboxEvent.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(Webhook, counts.c.delivered, counts.c.pending, counts.c.failing, counts.c.dead, last_error)
            .outerjoin(counts, counts.c.webhook_id == Webhook.id)
            .order_by(Webhook.integration)
        )
        return [
            WebhookStatus(
                webhook.id,
                webhook.integration,
                webhook.url,
                msgspec.json.decode(webhook.brand_ids or "[]", type=list[str]),
                webhook.disabled_at is not None,
                int(delivered or 0),
                int(waiting or 0),
                int(failing or 0),
                int(dead or 0),
                error,
            )
            for webhook, delivered, waiting, failing, dead, error in rows
        ]

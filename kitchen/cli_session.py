"""A command-line command's one database session: opened, handed to a service, closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kitchen.db import create_engine
from kitchen.fields import FieldError
from kitchen.settings import Settings

S = TypeVar("S")
T = TypeVar("T")


def with_service(make: Callable[[AsyncSession], S], work: Callable[[S], Awaitable[T]]) -> T:
    """Run `work` on the service `make` builds on a session of the configured database; a
    refused value (FieldError) becomes the command's error message, not a traceback."""

    async def run() -> T:
        engine = create_engine(Settings.from_env())
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                return await work(make(session))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except FieldError as exc:
        raise click.ClickException(str(exc)) from exc

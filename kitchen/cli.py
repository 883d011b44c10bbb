"""The `kitchen` command: Litestar's CLI bound to kitchen.app:app, plus the kitchen's own commands."""

from __future__ import annotations

import os

import click
from litestar.plugins import CLIPluginProtocol


class KitchenCLIPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        from kitchen.auth.cli import api_keys_group, users_group
        from kitchen.demo import demo_command
        from kitchen.orders.integrity import history_group
        from kitchen.serve import run_command
        from kitchen.webhooks.cli import webhooks_group

        # Replaces Litestar's own `run`, which gives uvicorn a host and a port only.
        cli.add_command(run_command)
        cli.add_command(demo_command)
        cli.add_command(history_group)
        cli.add_command(api_keys_group)
        cli.add_command(users_group)
        cli.add_command(webhooks_group)


def main() -> None:
    from kitchen.settings import Settings

    settings = Settings.from_env()
    os.environ.setdefault("LITESTAR_APP", "kitchen.app:app")
    # `kitchen run` listens where KITCHEN_HOST / KITCHEN_PORT say, unless --host/--port are given.
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    from litestar.cli.main import litestar_group

    litestar_group()

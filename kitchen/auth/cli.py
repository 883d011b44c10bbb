"""`kitchen api-keys ...` and `kitchen users ...`: credentials from the command line."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from kitchen.auth.service import Credentials
from kitchen.cli_session import with_service

T = TypeVar("T")


def with_credentials(work: Callable[[Credentials], Awaitable[T]]) -> T:
    return with_service(Credentials, work)


@click.group(name="api-keys", help="API keys for delivery-channel integrations.")
def api_keys_group() -> None:
    pass


@api_keys_group.command(name="create", help="Create a key; it is printed once, as the last line.")
@click.argument("name")
def create_api_key(name: str) -> None:
    _, key = with_credentials(lambda credentials: credentials.create_api_key(name))
    click.echo(f"Created API key {name!r}. Send it as 'Authorization: Bearer <key>'. It is not shown again:")
    click.echo(key)


@api_keys_group.command(name="list", help="Every key: name, first characters, created, revoked.")
def list_api_keys() -> None:
    for record in with_credentials(lambda credentials: credentials.api_keys()):
        state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
        click.echo(f"{record.name}\t{record.prefix}…\tcreated {record.created_at:%Y-%m-%d %H:%M}\t{state}")


@api_keys_group.command(name="revoke", help="Stop a key working, at once.")
@click.argument("name")
def revoke_api_key(name: str) -> None:
    with_credentials(lambda credentials: credentials.revoke_api_key(name))
    click.echo(f"Revoked API key {name!r}.")


@click.group(name="users", help="Manager accounts.")
def users_group() -> None:
    pass


@users_group.command(name="create", help="Create a manager; asks for the password (or reads it from stdin).")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username: str, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with_credentials(lambda credentials: credentials.create_manager(username, password))
    click.echo(f"Created manager {username!r}; sign in at /login.")


@users_group.command(name="set-password", help="Give a manager a new password; every session of theirs ends at once.")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(username: str, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    ended = with_credentials(lambda credentials: credentials.set_password(username, password))
    # Open streams of those sessions close at their next check (at most PING_SECONDS later).
    click.echo(f"New password for {username!r}; {len(ended)} session(s) ended.")

"""``vigil serve`` and ``vigil api-key create|list|revoke``: the REST API and console server.

Thin: the app comes from ``vigil.api.create_app``, keys from ``vigil.api.auth``.
"""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from vigil.catalog.api_store import ApiStore, Role
from vigil.catalog.store import Catalog
from vigil.cli.common import context_settings, friendly_errors, print_table
from vigil.settings import Settings

keys_app = typer.Typer(help="Create, list and revoke REST API keys.", no_args_is_help=True)


def _store(settings: Settings) -> tuple[Catalog, ApiStore]:
    settings.home.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(settings.resolved_database_url)
    return catalog, ApiStore(catalog)


@friendly_errors
def serve(
    context: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default 127.0.0.1, loopback only).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8765).")] = None,
) -> None:
    """Start the REST API and the web console (open http://HOST:PORT/ in a browser)."""
    import uvicorn

    from vigil.api import create_app

    settings = context_settings(context)
    update = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if update:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=update)})
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.api.host, port=settings.api.port, log_level="warning"
    )

    class AnnouncingServer(uvicorn.Server):
        """Prints the console's URL once the socket listens, not before: a URL printed
        while the app still starts (minutes on a loaded machine) answers nothing."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return  # uvicorn has said why and exits
            host, port = self.config.host, self.config.port
            for server in self.servers:
                for listening in server.sockets:
                    host, port = listening.getsockname()[:2]  # the real port when 0 was asked
                    break
            shown = f"[{host}]" if ":" in str(host) else str(host)
            typer.echo(f"console: http://{shown}:{port}/  (API docs at /docs)", err=True)

    AnnouncingServer(config).run()


@keys_app.command("create")
@friendly_errors
def key_create(
    context: typer.Context,
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "default",
    role: Annotated[Role, typer.Option(help="'read' (search, look) or 'admin' (change).")] = (
        Role.READ
    ),
) -> None:
    """Create a key and print its token once (only a salted hash is stored)."""
    from vigil.api.auth import create_key  # the FastAPI app loads with it: not for every command

    catalog, store = _store(context_settings(context))
    with catalog:
        new = create_key(store, name=name, role=role)
    typer.echo(new.token)
    typer.echo(
        f"created key {new.record.id} {new.record.name!r} role={new.record.role}; "
        "store the token now, it cannot be shown again",
        err=True,
    )


@keys_app.command("list")
@friendly_errors
def key_list(context: typer.Context) -> None:
    """List keys (never their tokens)."""
    catalog, store = _store(context_settings(context))
    with catalog:
        keys = store.list_keys()
    if not keys:
        typer.echo("no API keys: a loopback-only server lets local requests in")
        return
    print_table(
        ("id", "prefix", "role", "name", "state"),
        [
            (
                k.id,
                k.prefix,
                k.role,
                k.name,
                f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active",
            )
            for k in keys
        ],
    )


@keys_app.command("revoke")
@friendly_errors
def key_revoke(
    context: typer.Context,
    key: Annotated[str, typer.Argument(help="Key id or prefix.")],
) -> None:
    """Revoke a key (a running server stops accepting it within 30 s)."""
    catalog, store = _store(context_settings(context))
    with catalog:
        record = store.revoke_key(key)
    typer.echo(f"revoked key {record.id} {record.name!r}")

"""The ``xiaodian`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from xiaodian.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="xiaodian (小店): a self-hostable content-commerce platform.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory for the SQLite database, media and secret key."),
]


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


def _served_at(host: str, port: int) -> str:
    """The address a server listening on ``host``:``port`` is reached at from this machine
    (a wildcard interface is reached on the loopback)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _public_base_url(host: str, port: int) -> dict[str, object]:
    """The public address defaults to where this server really listens, so the sandbox's
    notifications and cashier links reach it on any port; an explicit
    ``XIAODIAN_PUBLIC_BASE_URL`` (a proxy, a domain) wins."""
    if os.environ.get("XIAODIAN_PUBLIC_BASE_URL"):
        return {}
    return {"public_base_url": _served_at(host, port)}


def _upgrade(settings: Settings) -> None:
    from xiaodian import migrate

    database = settings.database()
    try:
        migrate.upgrade(database.engine)
    finally:
        database.dispose()


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create or upgrade the database schema to the newest revision (Alembic)."""
    settings = _settings(data_dir)
    _upgrade(settings)
    typer.echo("database is up to date")


@app.command()
def seed(data_dir: DataDir = None) -> None:
    """Fill an empty database with the demo shops, products and accounts."""
    from xiaodian.seed import seed_demo

    settings = _settings(data_dir)
    _upgrade(settings)
    created = seed_demo(settings)
    typer.echo("demo data created" if created else "database already has data; nothing seeded")


@app.command("create-operator")
def create_operator(
    login: Annotated[str, typer.Argument(help="phone number or email")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    name: Annotated[str, typer.Option(help="display name")] = "运营",
    data_dir: DataDir = None,
) -> None:
    """Create a platform operator account (or promote an existing account)."""
    from xiaodian.accounts import service
    from xiaodian.errors import DomainError

    settings = _settings(data_dir)
    from xiaodian import settings as settings_module

    settings_module.install(settings)
    database = settings.database()
    try:
        with database.session() as db:
            user = service.create_operator(db, login=login, password=password, display_name=name)
    except DomainError as exc:
        typer.secho(exc.render(), fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(f"operator {user.login_name} (id {user.id}) is ready")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="server processes")] = 1,
    data_dir: DataDir = None,
) -> None:
    """Run the web server for a real deployment (run `xiaodian db upgrade` first)."""
    import uvicorn

    _settings(data_dir)  # fail early, naming a bad setting
    if data_dir is not None:
        os.environ["XIAODIAN_DATA_DIR"] = str(data_dir)
    for name, value in _public_base_url(host, port).items():
        os.environ[f"XIAODIAN_{name.upper()}"] = str(value)  # read by every server process
    uvicorn.run(
        "xiaodian.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="worker threads")] = 2,
    data_dir: DataDir = None,
) -> None:
    """Run the background worker: timeouts, confirmations, notification retries, reconciliation."""
    from xiaodian import domains, tasks
    from xiaodian import settings as settings_module

    domains.load()
    settings = _settings(data_dir)
    settings_module.install(settings)
    tasks.configure(settings)
    typer.echo(f"xiaodian worker running ({workers} threads); Ctrl-C stops it")
    tasks.run_worker(workers)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    data_dir: DataDir = Path("data"),
) -> None:
    """Start the demo shop: embedded SQLite, demo data, background worker in-process."""
    import uvicorn

    from xiaodian.app import create_app
    from xiaodian.seed import DEMO_LOGINS, seed_demo

    settings = _settings(data_dir, worker_in_process=True, **_public_base_url(host, port))
    _upgrade(settings)
    created = seed_demo(settings)
    url = _served_at(host, port) + "/"
    typer.echo(
        ("demo data created in " if created else "reusing data in ") + str(settings.data_dir)
    )
    typer.echo(f"xiaodian is running at {url}")
    typer.echo("demo logins (password for all: demo1234):")
    for role, login in DEMO_LOGINS:
        typer.echo(f"  {role:<10} {login}")
    typer.echo(
        f"inside WeChat (a MicroMessenger user agent): messages at {url}sandbox/wechat/outbox"
    )
    sys.stdout.flush()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

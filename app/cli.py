"""The ``auction`` command: serve, migrate, create-admin, demo, verify, export-log, import-log."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, NoReturn

import typer
from pydantic import ValidationError

from app.config import Settings, get_settings

if TYPE_CHECKING:
    from app.audit.imports import ImportReport
    from app.audit.keys import LogSigner

cli = typer.Typer(help="Online auctions of village collective assets.", no_args_is_help=True)


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def load_settings() -> Settings:
    """Settings, or one clear line saying what to fix (never a traceback)."""
    unknown = sorted(
        name
        for name in os.environ
        if name.startswith("AUCTION_")
        and name[8:].lower() not in Settings.model_fields
        and not name.startswith("AUCTION_TEST_")
    )
    if unknown:
        fail(
            f"unknown setting {unknown[0]}; known ones: "
            + ", ".join(f"AUCTION_{f.upper()}" for f in Settings.model_fields)
        )
    try:
        return get_settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "_".join(str(part) for part in error["loc"])
        where = f"AUCTION_{field.upper()}: " if field else ""
        fail(f"{where}{error['msg'].removeprefix('Value error, ')}")


def check_database(settings: Settings, *, migrate: bool) -> None:
    from app import schema

    try:
        if migrate:
            schema.upgrade_to_head(settings.effective_database_url)
        ready = asyncio.run(_database_at_head(settings))
    except Exception as exc:  # noqa: BLE001 - reported as one line, whatever the driver raised
        fail(
            f"cannot use the database {_safe_url(settings)}: {_first_line(exc)} "
            "(check AUCTION_DATABASE_URL and that the server is running)"
        )
    if not ready:
        fail("the database schema is not at the latest migration; run `auction migrate`")


async def _database_at_head(settings: Settings) -> bool:
    from app import schema
    from app.db import create_engine

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(schema.is_at_head)
    finally:
        await engine.dispose()


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def load_signer(settings: Settings, *, create: bool = False) -> LogSigner:
    """The log's signing key, or one line saying why it cannot be used (exit 2)."""
    from app.audit.keys import load_or_create_signer

    try:
        return load_or_create_signer(settings.data_dir, settings.signing_key_file, create=create)
    except (OSError, ValueError) as exc:
        fail(f"cannot use the signing key: {exc}")


def ensure_signer(settings: Settings, *, new: bool = False) -> LogSigner:
    """The log's signing key, made if there is none; but a missing key is not replaced while
    the log's checkpoints are signed with it (lost, or not put back after a restore) unless
    ``new`` says it is a rotation, and ``new`` never replaces a key that is there."""
    from app.audit.keys import key_path

    path = key_path(settings.data_dir, settings.signing_key_file)
    if path.exists():
        if new:
            fail(f"{path} exists: to rotate, move it aside first (docs/operations.md)")
        return load_signer(settings)
    if not new and (signed_with := asyncio.run(_log_signed_with(settings))) is not None:
        fail(
            f"the log is signed with the key {signed_with} and {path} does not exist: put that "
            "key back, or make a new one with `auction signing-key --new` and publish it (a "
            "rotation, docs/operations.md)"
        )
    return load_signer(settings, create=True)


def serving_signer(settings: Settings) -> LogSigner:
    """The key a server signs with: a named key file must be there (replicas share it, so a
    server never makes one); the data directory's own is made as ``ensure_signer`` allows."""
    if settings.signing_key_file is not None:
        return load_signer(settings)
    return ensure_signer(settings)


async def _log_signed_with(settings: Settings) -> str | None:
    """The public key of the latest stored checkpoint, if the database has one."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from app.audit.checkpoints import latest_checkpoint
    from app.db import create_engine, create_sessionmaker

    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return None  # no database yet, so no log (and none is made by looking)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        if "checkpoints" not in tables:
            return None
        async with create_sessionmaker(engine)() as session:
            checkpoint = await latest_checkpoint(session)
    except Exception as exc:  # noqa: BLE001 - reported as one line, whatever the driver raised
        fail(f"cannot read the log's checkpoints in {_safe_url(settings)}: {_first_line(exc)}")
    finally:
        await engine.dispose()
    return checkpoint.public_key if checkpoint is not None else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def listening_socket(settings: Settings) -> socket.socket:
    """The server's socket. Its send buffer size is inherited by every accepted connection:
    bounded, a watcher that stops reading fills it soon and is dropped (instead of the kernel
    growing a buffer of megabytes for it)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.socket_send_buffer_bytes:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.socket_send_buffer_bytes)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
    sock.set_inheritable(True)
    return sock


def _serve(settings: Settings) -> None:
    import uvicorn

    from app.main import create_app
    from app.observability import configure_logging

    configure_logging(settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,
        log_level=settings.log_level,
        # Compression would cost each socket ~3x the memory and 2x the CPU for small frames.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(settings)])


@cli.command()
def serve(
    migrate: Annotated[bool, typer.Option(help="Upgrade the schema first.")] = False,
) -> None:
    """Serve the API, the live sockets and the browser pages."""
    settings = load_settings()
    check_database(settings, migrate=migrate)
    serving_signer(settings)  # a missing or unreadable key stops start-up with one line
    _serve(settings)


@cli.command("migrate")
def migrate_command() -> None:
    """Upgrade the database schema to the latest migration."""
    settings = load_settings()
    check_database(settings, migrate=True)
    typer.echo(f"database {_safe_url(settings)} is at the latest migration")


@cli.command("create-admin")
def create_admin(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read it from stdin.")
    ] = False,
) -> None:
    """Create the first administrator (the password is read from standard input)."""
    if not password_stdin:
        fail("pass the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\n")
    settings = load_settings()
    check_database(settings, migrate=False)
    from app.demo import create_admin_user
    from app.errors import AppError

    try:
        asyncio.run(create_admin_user(settings, username, password))
    except AppError as exc:
        fail(exc.detail)
    typer.echo(f"administrator {username!r} created")


@cli.command()
def demo(
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the app.")] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Serve, with simulated bidders on the live lot.")
    ] = False,
) -> None:
    """Load the demo township (once; running it again changes nothing) and print its logins."""
    settings = load_settings()
    if live:
        settings = settings.model_copy(update={"demo_live": True})
        serve = True
    check_database(settings, migrate=True)
    serving_signer(settings)
    from app.demo import load_demo, print_logins

    created = asyncio.run(load_demo(settings))
    print_logins(settings, created)
    if serve:
        _serve(settings)


@cli.command()
def verify(
    file: Annotated[Path, typer.Argument(help="A log .ndjson, or a lot history .json or .csv.")],
    public_key: Annotated[
        str | None,
        typer.Option(help="The log's key (base64), from /.well-known/auction-log-key."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress even if not a terminal.")] = False,
    chain_only: Annotated[bool, typer.Option(help="Skip replaying the auction rules.")] = False,
) -> None:
    """Check an export offline: exit 0 valid, 1 tampered, 2 unreadable."""
    from app.audit.verify import verify_command

    code = verify_command(
        file,
        public_key=public_key,
        replay=not chain_only,
        progress=progress or sys.stderr.isatty(),
        out=sys.stdout,
        err=sys.stderr,
    )
    raise typer.Exit(code)


@cli.command("export-log")
def export_log(
    file: Annotated[Path, typer.Argument(help="Where to write the NDJSON (- for stdout).")],
    after: Annotated[int, typer.Option(min=0, help="Start after this sequence number.")] = 0,
) -> None:
    """Export the whole event log (from --after) as NDJSON, for `auction verify`."""
    settings = load_settings()
    check_database(settings, migrate=False)
    signer = load_signer(settings)
    from app.errors import AppError

    try:
        if str(file) == "-":
            until = asyncio.run(_export_log(settings, signer, sys.stdout.buffer, after))
        else:
            with file.open("wb") as output:
                until = asyncio.run(_export_log(settings, signer, output, after))
    except AppError as exc:
        fail(exc.detail)
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
    typer.echo(f"exported events {after + 1} to {until} to {file}", err=True)


async def _export_log(settings: Settings, signer: LogSigner, output: BinaryIO, after: int) -> int:
    from app.audit.checkpoints import checkpoint_signer
    from app.audit.exports import write_log_export
    from app.db import create_engine, create_sessionmaker

    engine = create_engine(settings)
    try:
        export = await write_log_export(
            create_sessionmaker(engine), checkpoint_signer(signer), after, output
        )
    finally:
        await engine.dispose()
    return export.until


@cli.command("import-log")
def import_log(
    file: Annotated[Path, typer.Argument(help="A log .ndjson written by `auction export-log`.")],
    public_key: Annotated[
        str | None,
        typer.Option(help="The log's key (base64): refuse a file signed with another."),
    ] = None,
    keep_accounts: Annotated[
        bool,
        typer.Option(help="Keep the database's accounts (restored from a backup, same ids)."),
    ] = False,
) -> None:
    """Restore an exported log into an empty database, verifying it as it goes; rebuild the
    lots from it. Exit 0 restored, 1 tampered (nothing written), 2 refused or unreadable."""
    settings = load_settings()
    check_database(settings, migrate=False)
    from sqlalchemy.exc import SQLAlchemyError

    from app.audit.keys import key_path
    from app.audit.verifier import Tampered, Unreadable
    from app.errors import AppError

    try:
        report = asyncio.run(_import_log(settings, file, public_key, keep_accounts))
    except Tampered as exc:
        typer.secho(f"error: {exc}; nothing was imported", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except Unreadable as exc:
        fail(f"{exc}; nothing was imported")
    except AppError as exc:
        fail(f"{exc.code}: {exc.detail}")
    except SQLAlchemyError as exc:
        reason = _first_line(exc)
        fail(f"import_failed: the database refused the import ({reason}); nothing was imported")
    path = key_path(settings.data_dir, settings.signing_key_file)
    server_key = load_signer(settings).public_key_b64 if path.exists() else None
    typer.echo(report.summary(server_key))


async def _import_log(
    settings: Settings, file: Path, public_key: str | None, keep_accounts: bool
) -> ImportReport:
    from app.audit.imports import import_log as restore
    from app.db import create_engine, create_sessionmaker

    engine = create_engine(settings)
    try:
        return await restore(
            create_sessionmaker(engine), file, public_key=public_key, keep_accounts=keep_accounts
        )
    finally:
        await engine.dispose()


@cli.command("signing-key")
def signing_key(
    new: Annotated[
        bool,
        typer.Option("--new", help="Make a new key though the log is signed with another one."),
    ] = False,
) -> None:
    """Make the log's Ed25519 signing key if there is none; print its public key.

    If the key is missing but the log's checkpoints are signed already, the key was lost or
    not put back (a new volume, a restored database): that is refused, unless ``--new`` says
    it is a rotation, since every checkpoint from then on is signed with the new key."""
    typer.echo(ensure_signer(load_settings(), new=new).public_key_b64)


def main() -> None:
    cli()

"""The ``logiq`` command line (typer): run, sandbox, plugins, rollout, version."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from logiq_core.app.process import exit_without_final_collection
from logiq_core.framework.errors import LogiqError

if TYPE_CHECKING:
    from logiq_core.app.settings import Settings

# Each command imports what it needs (settings and pydantic, rich, storage, the bot): `logiq
# --help`, `logiq version` and `logiq rollout ...` start without the modules of the others.

app = typer.Typer(
    name="logiq",
    help=(
        "Logiq is a community bot for Stoat (stoat.chat): a small core with every feature "
        "as a plugin, rolled out server by server. Without LOGIQ_TOKEN, `logiq run` starts "
        "a local sandbox to try it. Run `logiq COMMAND --help` for each command's options."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help, as every Unix tool prints it: full sentences, flags without placeholders.
    rich_markup_mode=None,
)


def _conventional_help() -> None:
    """Show arguments and option values by name (``FEATURE``, ``--script LINES``), not type,
    and list commands with whole sentences.

    This typer release labels every parameter with its Python type (``<bool>`` on flags,
    ``{feature} <str>`` for arguments); operators need the forms they type instead.
    """
    from typer import core

    def option_form(self: Any, ctx: Any) -> str | None:
        return self.metavar or (self.name or "value").upper()

    def argument_usage(self: Any) -> str:
        name = (self.metavar or self.name or "value").upper()
        shown = name if self.required else f"[{name}]"
        return shown + ("..." if self.nargs != 1 else "")

    def first_sentence(self: Any, limit: int = 45) -> str:
        """A command's line in its group's list: its short help, or its help's first sentence,
        always whole (the list wraps it) rather than cut at ``limit`` characters."""
        text = " ".join((self.short_help or self.help or "").split())
        end = text.find(". ")
        return text if end < 0 else text[: end + 1]

    for kind in (core.TyperCommand, core.TyperGroup):
        kind.get_short_help_str = first_sentence  # type: ignore[method-assign]
    core.TyperOption.display_type_rich = option_form  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    core.TyperArgument._rich_display_name = lambda self: (self.metavar or self.name or "").upper()  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = argument_usage  # type: ignore[method-assign]


_conventional_help()

EXIT_CONFIG = 2
EXIT_AUTH = 3
EXIT_DEAF = 4  # the events socket stopped unexpectedly: restart me


def _error_line(message: str) -> None:
    """One line on stderr: never wrapped, never read as markup (``logiq[x]`` is text)."""
    from rich.console import Console
    from rich.text import Text

    line = Text.assemble(("error:", "bold red"), " ", message)
    Console(stderr=True, soft_wrap=True).print(line, highlight=False)


def _fail(message: str, code: int = 1) -> None:
    _error_line(message)
    raise typer.Exit(code)


def _settings() -> Settings:
    from logiq_core.app.settings import load_settings

    try:
        return load_settings()
    except LogiqError as exc:
        _fail(str(exc), EXIT_CONFIG)
        raise  # unreachable


@app.command(short_help="Print Logiq's version and each installed plugin's version.")
def version() -> None:
    """Print Logiq's version, then the distribution and version of each installed plugin."""
    from logiq_core import __version__
    from logiq_core.framework.plugins import PluginManager
    from logiq_core.framework.policy import Policy

    typer.echo(f"logiq {__version__}")
    for record in PluginManager(Policy()).discover():
        if record.distribution:
            typer.echo(f"  {record.distribution} {record.version}")


@app.command(short_help="Run the bot on Stoat, or the local sandbox when no token is set.")
def run() -> None:
    """Run the bot. With LOGIQ_TOKEN set, it connects to Stoat (LOGIQ_API_URL) with every
    enabled plugin. Without a token, it starts the local sandbox instead, so you can try Logiq
    with no Stoat account. Stop it with Ctrl-C."""
    import asyncio

    from rich.console import Console

    from logiq_core.app.log import configure_logging

    settings = _settings()
    if settings.token is None:
        Console(stderr=True).print(
            "LOGIQ_TOKEN is not set: starting the local sandbox (a simulated Stoat server). "
            "Set LOGIQ_TOKEN to connect to Stoat.",
            highlight=False,
        )
        _run_sandbox(settings)
        return
    configure_logging(settings.log_level, secrets=[settings.token_value() or ""])
    code = asyncio.run(_run_bot(settings))
    raise typer.Exit(code)


async def _run_bot(settings: Settings) -> int:
    import asyncio

    from loguru import logger

    from logiq_core.app.bot import Bot, GatewayStopped
    from logiq_core.stoat.gateway import GatewayAuthError
    from logiq_core.stoat.rest import StoatAPIError

    bot: Bot | None = None
    loop = asyncio.get_running_loop()
    try:
        bot = Bot(settings)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, bot.request_stop)
        await bot.start()
        await bot.wait_closed()
        return 0
    except GatewayAuthError as exc:
        logger.error("{}", exc)
        return EXIT_AUTH
    except GatewayStopped:
        return EXIT_DEAF  # already logged; a supervisor restarts the process
    except StoatAPIError as exc:
        code, line = _explain_startup_failure(exc, settings)
        logger.error("{}", line)
        return code
    except LogiqError as exc:  # a configuration problem (a required plugin failed, say): exit 2
        logger.error("{}", exc)
        return EXIT_CONFIG
    except Exception as exc:  # one line, through the redacting log, never a raw traceback
        logger.error("Logiq stopped: {}: {}", type(exc).__name__, exc)
        return 1
    finally:
        if bot is not None:
            try:
                await bot.stop()
            except Exception as exc:
                logger.error("could not stop cleanly: {}: {}", type(exc).__name__, exc)


def _explain_startup_failure(exc: Any, settings: Settings) -> tuple[int, str]:
    """One line naming what failed and what to check, and the exit code for it."""
    from logiq_core.stoat.rest import StoatUnavailable

    if isinstance(exc, StoatUnavailable):
        return EXIT_CONFIG, (
            f"cannot reach Stoat at {settings.api_url} ({exc.route}: {exc.type}); "
            "check LOGIQ_API_URL and the network"
        )
    if exc.status in (401, 403) or exc.type in ("InvalidSession", "Unauthorized", "Forbidden"):
        return EXIT_AUTH, (
            f"Stoat refused the bot token ({exc.route}: {exc.status} {exc.type}); check LOGIQ_TOKEN "
            "(Stoat → Settings → My Bots)"
        )
    return EXIT_CONFIG, (
        f"Stoat at {settings.api_url} answered {exc.route} with {exc.status} {exc.type}; check LOGIQ_API_URL"
    )


@app.command(short_help="Try Logiq locally: a simulated Stoat server and a terminal chat.")
def sandbox(
    script: Annotated[
        str | None,
        typer.Option(
            metavar="LINES",
            help="Run these lines, separated by ';', instead of reading the terminal, then quit.",
        ),
    ] = None,
) -> None:
    """Try Logiq with no Stoat account: a simulated Stoat server with a demo community, the bot
    with every enabled plugin, and a terminal chat where you type as a member. Type /help in
    the chat for the sandbox's own commands; /quit, Ctrl-C or Ctrl-D leaves."""
    _run_sandbox(_settings(), script)


def _run_sandbox(settings: Settings, script: str | None = None) -> None:
    import asyncio

    from rich.console import Console

    from logiq_core.app.sandbox import run_sandbox

    try:
        asyncio.run(run_sandbox(settings, script=script))
    except LogiqError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except KeyboardInterrupt:  # Ctrl-C before the chat was up (at the prompt it is handled there)
        Console().print("\nBye.")


@app.command(short_help="List the installed plugins, whether each runs, and its rollout phase.")
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON, for scripts.")] = False,
) -> None:
    """List every discovered plugin: its distribution and version, whether it is enabled,
    loaded or failed (and why), the hooks it implements and its rollout phase. Listing never
    creates storage: the phases come from the data directory only when it already exists."""
    import asyncio

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from logiq_core.app.log import configure_logging
    from logiq_core.framework.plugins import PluginManager
    from logiq_core.framework.policy import load_policy

    settings = _settings()
    configure_logging("ERROR", secrets=[settings.token_value() or ""])
    try:
        manager = PluginManager(load_policy(settings.plugins_file))
        records = manager.load()
    except LogiqError as exc:
        _fail(str(exc), EXIT_CONFIG)
        return
    phases = asyncio.run(_stored_phases(settings, manager.features()))
    rows: list[dict[str, Any]] = []
    for record in records:
        row = record.as_dict()
        row["rollout"] = phases.get(record.name)
        rows.append(row)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Logiq plugins")
    for column in ("plugin", "distribution", "enabled", "status", "hooks", "rollout"):
        table.add_column(column)
    for row in rows:
        cells = (
            row["name"],
            f"{row['distribution'] or '-'} {row['version'] or ''}".strip(),
            "yes" if row["enabled"] else "no",
            row["status"] + (" (why: below)" if row["error"] else ""),
            ", ".join(hook.removeprefix("logiq_") for hook in row["hooks"]) or "-",
            row["rollout"] or "-",
        )
        table.add_row(*(Text(cell) for cell in cells))  # plain text: `logiq[x]` is not markup
    console = Console(width=max(120, Console().width))
    console.print(table)
    # Reasons in full, one per line, unwrapped: a config error names the file, table and key.
    for row in rows:
        if row["error"]:
            console.print(Text(f"{row['name']} ({row['status']}): {row['error']}"), soft_wrap=True)


async def _stored_phases(settings: Settings, features: list[Any]) -> dict[str, str]:
    """Each feature's current rollout (from storage; the plugin's default if unreachable).

    The embedded database is only opened when its files exist: listing plugins in a fresh
    folder must not create ``.logiq/``.
    """
    defaults = {f.name: f"{f.default_phase.value} ({f.default_percentage:g}%, default)" for f in features}
    if settings.mongodb_uri is None and not (settings.data_dir / "db").is_dir():
        return defaults
    from pymongo.errors import PyMongoError

    try:
        from logiq_core.app.rollout.service import describe_phases

        stored = await describe_phases(settings)
    except (LogiqError, PyMongoError, OSError) as exc:
        typer.echo(
            f"could not read the stored rollout state ({type(exc).__name__}: {exc}); "
            "showing each plugin's default",
            err=True,
        )
        return defaults
    return {**defaults, **stored}


@app.command("new-plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(help="The feature's name: a-z, 0-9 and _ (e.g. coinflip).")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create logiq-NAME/ (default: here).")
    ] = Path("."),
    description: Annotated[str, typer.Option(help="One line saying what the feature does.")] = "",
    phase: Annotated[str, typer.Option(help="Its first phase: internal, beta, gradual, stable.")] = "beta",
    author: Annotated[str, typer.Option(help="The author's name for pyproject.toml.")] = "",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing directory.")] = False,
) -> None:
    """Write a ready plugin distribution: pyproject with the entry point, a command, a document,
    a listener, end-to-end tests that pass, and a README. Asks nothing; options set the rest."""
    from logiq_core.app.scaffold import ScaffoldError, write_plugin

    try:
        root = write_plugin(name, directory, description=description, phase=phase, author=author, force=force)
    except ScaffoldError as exc:
        _fail(str(exc))
        return
    typer.echo(f"Created {root}")
    typer.echo(f'Next: cd {root} && pip install -e ".[test]" && pytest')
    typer.echo("Then read docs/plugins.md in Logiq's repository for every hook.")


def _mount_rollout() -> None:
    from logiq_core.app.rollout.cli import rollout_app

    app.add_typer(rollout_app, name="rollout")


_mount_rollout()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LogiqError as exc:
        _error_line(str(exc))
        sys.exit(EXIT_CONFIG)
    finally:
        exit_without_final_collection()

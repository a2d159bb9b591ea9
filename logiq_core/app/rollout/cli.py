"""The operator's rollout CLI: ``scripts/gradual_rollout.py --set economy 50`` and
``logiq rollout set economy 50`` share this one implementation.

One action per run. Bad input prints one line to stderr, exits 2 and changes nothing; output
meant for scripts (``--export``, ``--json``) is pure JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from logiq_core.framework.errors import LogiqError

if TYPE_CHECKING:
    from logiq_core.app.rollout.monitor import MonitorReport
    from logiq_core.app.rollout.service import ChangeReport, RolloutService
    from logiq_core.framework.storage import Storage

# Storage, the rollout service and the monitor (pydantic, Beanie, pymongo, rich) are imported by
# the functions that use them: `--help`, and `logiq --help` which mounts these commands, answer
# without them, and no action pays for the chat client's modules it never uses.

EXIT_BAD_INPUT = 2


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def execute(action: str, args: dict[str, Any], storage: Storage | None = None) -> int:
    """Run one rollout action; raises LogiqError for anything the operator must fix."""
    from logiq_core.app.log import configure_logging
    from logiq_core.app.rollout.service import (
        RolloutInputError,
        RolloutService,
        check_server_id,
        default_actor,
        open_service,
        read_import_file,
    )
    from logiq_core.app.settings import load_settings

    settings = load_settings()
    if storage is None:
        configure_logging("WARNING", secrets=[settings.token_value() or ""])
    window = timedelta(hours=24)
    if args.get("window"):
        from logiq_core.framework.commands.parsing import parse_duration

        parsed = parse_duration(str(args["window"]))
        if parsed is None:
            raise RolloutInputError(f"window must be a duration like 1h or 7d, not {args['window']!r}")
        window = parsed
    if action in ("import",):
        text = read_import_file(Path(args["file"]))
        RolloutService.parse_import(text)  # validate before even starting storage
    for server in args.get("servers", []):
        check_server_id(server)
    actor = args.get("actor") or default_actor()
    async with open_service(settings, actor=actor, storage=storage) as service:
        return await _run(service, action, args, window)


def _print_report(report: ChangeReport) -> None:
    for line in report.lines:
        _out(line)


async def _run(service: RolloutService, action: str, args: dict[str, Any], window: timedelta) -> int:
    from logiq_core.app.rollout.service import RolloutInputError
    from logiq_core.framework.rollout.rules import decide
    from logiq_core.framework.rollout.status import describe, kept_percentage_note, status_text

    feature = str(args.get("feature") or "")
    if action == "status":
        snapshot = await service.snapshot()
        if args.get("json"):
            _out(json.dumps(service.status_json(snapshot), indent=2))
        else:
            verbose = bool(args.get("verbose"))
            installed = service.installed_names()
            _out(status_text(snapshot, service.status_order(snapshot, verbose), installed, verbose))
        return 0
    if action == "set":
        _print_report(await service.set_percentage(feature, args["value"]))
    elif action == "phase":
        _print_report(await service.set_phase(feature, args["value"]))
    elif action in ("whitelist", "remove-whitelist"):
        _print_report(await service.whitelist(feature, args["server"], add=action == "whitelist"))
    elif action in ("blacklist", "remove-blacklist"):
        _print_report(await service.blacklist(feature, args["server"], add=action == "blacklist"))
    elif action in ("internal", "remove-internal"):
        _print_report(await service.internal(args["server"], add=action == "internal"))
    elif action == "guard":
        _print_report(await service.guard(feature, args["value"]))
    elif action == "export":
        _out(json.dumps(await service.export(), indent=2))
    elif action == "import":
        await _import(service, args)
    elif action == "history":
        await _history(service, feature, args)
    elif action == "explain":
        snapshot = await service.require_feature(feature)
        state = snapshot.features[feature]
        _out(f"{feature}: {describe(state)}")
        note = kept_percentage_note(feature, state)
        if note:
            _out(f"  {note}")
        for server in args["servers"]:
            decision = decide(feature, state, server, snapshot.internal_servers)
            _out(f"{server}: {'enabled' if decision.enabled else 'disabled'} ({decision.reason})")
    elif action == "monitor":
        live = not args.get("once") and not args.get("json") and sys.stdout.isatty()
        return await _monitor(service, feature, window, live, bool(args.get("json")))
    else:  # pragma: no cover - argparse prevents it
        raise RolloutInputError(f"unknown action {action}")
    return 0


async def _import(service: RolloutService, args: dict[str, Any]) -> None:
    from logiq_core.app.rollout.service import read_import_file

    text = read_import_file(Path(args["file"]))
    replace_all = bool(args.get("replace"))
    preview = await service.preview_import(text, replace_all)
    if not preview.lines:
        _out(f"imported {args['file']}: no changes")
        return
    for line in preview.lines:
        _out(line)
    if args.get("dry_run"):
        _out(f"dry run: {len(preview.lines)} change(s) shown, nothing written")
        return
    report = await service.import_state(text, args["file"], replace_all)
    if report.lines != preview.lines:  # someone changed the state in between: say what happened
        _out("the state changed meanwhile; applied instead:")
        for line in report.lines:
            _out(line)
    _out(f"imported {args['file']}: {len(report.lines)} change(s), now at version {report.after.version}")


async def _history(service: RolloutService, feature: str, args: dict[str, Any]) -> None:
    if feature:
        await service.require_feature(feature)
    entries = await service.store.history(feature or None, limit=int(args.get("limit") or 50))
    if args.get("json"):
        dumped = [e.model_dump(mode="json", exclude={"id", "revision_id"}) for e in entries]
        _out(json.dumps(dumped, indent=2))
        return
    for entry in entries:
        _out(f"#{entry.position} {entry.at:%Y-%m-%d %H:%M:%S} {entry.actor}: {entry.command}")
    if not entries:
        _out("no changes recorded")


async def _monitor(
    service: RolloutService, feature: str, window: timedelta, live: bool, as_json: bool
) -> int:
    """A live view on a terminal; otherwise (a pipe, a file, cron, ``--once``) one snapshot."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from logiq_core.app.rollout.monitor import build_report, report_lines
    from logiq_core.framework.tasks import raise_if_cancel_was_swallowed

    await service.require_feature(feature)

    async def report() -> MonitorReport:
        return await build_report(feature, await service.snapshot(), window)

    if as_json:
        _out(json.dumps((await report()).as_dict(), indent=2))
        return 0
    if not live:
        for line in report_lines(await report()):
            _out(line)
        return 0

    def render(current: MonitorReport) -> Text:
        return Text("\n".join([*report_lines(current), "", "(refreshes every 2 s; Ctrl-C to quit)"]))

    import asyncio

    with Live(render(await report()), refresh_per_second=1, console=Console()) as view:
        try:
            while True:
                await asyncio.sleep(2)
                view.update(render(await report()))
                # Ctrl-C cancels this task; a storage read may return normally through it.
                raise_if_cancel_was_swallowed()
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
    return 0


def run(action: str, args: dict[str, Any]) -> int:
    import asyncio  # here: `logiq --help` mounts these commands and needs no event loop

    try:
        return asyncio.run(execute(action, args))
    except KeyboardInterrupt:
        return 130
    except LogiqError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT


# --- the operators' script: flags exactly as in the rollout plan -----------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradual_rollout.py",
        description="Roll Logiq's features out per Stoat server: phases internal -> beta "
        "(whitelist) -> gradual (a percentage of servers) -> stable, with per-server blocking "
        "and an immediate rollback (--phase F internal).",
    )
    actions = parser.add_mutually_exclusive_group(required=True)
    actions.add_argument("--status", action="store_true", help="one line per feature")
    actions.add_argument(
        "--set",
        nargs=2,
        metavar=("FEATURE", "PERCENT"),
        help="gradual at PERCENT %% (0-100, steps of 0.01)",
    )
    actions.add_argument(
        "--phase",
        nargs=2,
        metavar=("FEATURE", "PHASE"),
        help="internal, beta, gradual or stable (internal = rollback)",
    )
    actions.add_argument("--whitelist", nargs=2, metavar=("FEATURE", "SERVER_ID"))
    actions.add_argument("--remove-whitelist", nargs=2, metavar=("FEATURE", "SERVER_ID"))
    actions.add_argument(
        "--blacklist",
        nargs=2,
        metavar=("FEATURE", "SERVER_ID"),
        help="this server never gets FEATURE, in any phase",
    )
    actions.add_argument("--remove-blacklist", nargs=2, metavar=("FEATURE", "SERVER_ID"))
    actions.add_argument("--internal", metavar="SERVER_ID", help="add a team server")
    actions.add_argument("--remove-internal", metavar="SERVER_ID")
    actions.add_argument(
        "--guard",
        nargs=2,
        metavar=("FEATURE", "CEILING"),
        help="roll back to internal after 3 windows in a row above CEILING %% errors "
        "(1 min and >=100 invocations each, counted after the feature's last change); 'off'",
    )
    actions.add_argument("--monitor", metavar="FEATURE", help="usage, errors, latency, feedback")
    actions.add_argument(
        "--history",
        nargs="?",
        const="",
        metavar="FEATURE",
        help="the audit trail (all features, or one)",
    )
    actions.add_argument(
        "--explain", nargs="+", metavar="ARG", help="FEATURE SERVER_ID...: who gets it and why"
    )
    actions.add_argument("--export", action="store_true", help="the whole state as JSON")
    actions.add_argument(
        "--import",
        dest="import_file",
        metavar="FILE",
        help="apply an export: only the features it lists change (prints the diff first)",
    )
    parser.add_argument(
        "--replace", action="store_true", help="--import: replace the whole state with the file"
    )
    parser.add_argument("--dry-run", action="store_true", help="--import: print the diff, write nothing")
    parser.add_argument("--json", action="store_true", help="JSON output (status, monitor, history)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail in --status")
    parser.add_argument(
        "--once",
        action="store_true",
        help="--monitor: one snapshot, no refresh (the default when stdout is not a terminal)",
    )
    parser.add_argument("--window", help="--monitor: time window, e.g. 1h, 7d (default 24h)")
    parser.add_argument("--actor", help="who is making the change (default: the OS user)")
    return parser


def parse_script(argv: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The script's arguments as (action, arguments) for :func:`run`."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    common = {"json": ns.json, "verbose": ns.verbose, "once": ns.once, "window": ns.window, "actor": ns.actor}
    if ns.status:
        return "status", common
    pairs = {
        "set": "value",
        "phase": "value",
        "guard": "value",
        "whitelist": "server",
        "remove_whitelist": "server",
        "blacklist": "server",
        "remove_blacklist": "server",
    }
    for attribute, second in pairs.items():
        value = getattr(ns, attribute)
        if value:
            return attribute.replace("_", "-"), {**common, "feature": value[0], second: value[1]}
    if ns.internal:
        return "internal", {**common, "server": ns.internal}
    if ns.remove_internal:
        return "remove-internal", {**common, "server": ns.remove_internal}
    if ns.monitor:
        return "monitor", {**common, "feature": ns.monitor}
    if ns.history is not None:
        return "history", {**common, "feature": ns.history or None}
    if ns.explain:
        if len(ns.explain) < 2:
            parser.error("--explain takes FEATURE SERVER_ID [SERVER_ID...]")
        return "explain", {**common, "feature": ns.explain[0], "servers": ns.explain[1:]}
    if ns.export:
        return "export", common
    return "import", {**common, "file": ns.import_file, "replace": ns.replace, "dry_run": ns.dry_run}


def script_main(argv: list[str] | None = None) -> int:
    action, args = parse_script(argv)
    return run(action, args)


async def script_main_async(argv: list[str], storage: Storage) -> int:
    """The script, run inside a running event loop on storage that is already started (tests
    replay many commands without starting a database per command)."""
    action, args = parse_script(argv)
    try:
        return await execute(action, args, storage=storage)
    except LogiqError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT


# --- the same commands under `logiq rollout` --------------------------------------------------
rollout_app = typer.Typer(
    help="Roll features out per Stoat server (the same commands as scripts/gradual_rollout.py).",
    no_args_is_help=True,
)
Actor = Annotated[str | None, typer.Option(help="Who makes the change (default: OS user).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="JSON output.")]


def _exit(action: str, args: dict[str, Any]) -> None:
    raise typer.Exit(run(action, args))


@rollout_app.command("status")
def status_command(
    as_json: JsonFlag = False, verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False
) -> None:
    """One line per feature, in the rollout plan's format."""
    _exit("status", {"json": as_json, "verbose": verbose})


@rollout_app.command("set")
def set_command(feature: str, percent: str, actor: Actor = None) -> None:
    """Put FEATURE in gradual at PERCENT % of servers (0-100, steps of 0.01)."""
    _exit("set", {"feature": feature, "value": percent, "actor": actor})


@rollout_app.command("phase")
def phase_command(feature: str, phase: str, actor: Actor = None) -> None:
    """Set FEATURE's phase: internal (the rollback), beta, gradual or stable."""
    _exit("phase", {"feature": feature, "value": phase, "actor": actor})


@rollout_app.command("whitelist")
def whitelist_command(feature: str, server_id: str, remove: bool = False, actor: Actor = None) -> None:
    """Give FEATURE to SERVER_ID in beta and gradual (--remove to undo)."""
    _exit(
        "remove-whitelist" if remove else "whitelist",
        {"feature": feature, "server": server_id, "actor": actor},
    )


@rollout_app.command("blacklist")
def blacklist_command(feature: str, server_id: str, remove: bool = False, actor: Actor = None) -> None:
    """SERVER_ID never gets FEATURE, in any phase (--remove to undo)."""
    _exit(
        "remove-blacklist" if remove else "blacklist",
        {"feature": feature, "server": server_id, "actor": actor},
    )


@rollout_app.command("internal")
def internal_command(server_id: str, remove: bool = False, actor: Actor = None) -> None:
    """Mark SERVER_ID as one of the team's servers (--remove to undo)."""
    _exit("remove-internal" if remove else "internal", {"server": server_id, "actor": actor})


@rollout_app.command("guard")
def guard_command(feature: str, ceiling: str, actor: Actor = None) -> None:
    """Roll FEATURE back to internal after 3 windows above CEILING % errors ('off': none)."""
    _exit("guard", {"feature": feature, "value": ceiling, "actor": actor})


@rollout_app.command("monitor")
def monitor_command(
    feature: str,
    window: Annotated[str, typer.Option(help="Time window, e.g. 1h or 7d.")] = "24h",
    once: Annotated[
        bool, typer.Option(help="One snapshot, no live refresh (automatic when not a terminal).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Servers enabled and using FEATURE, errors, latency, feedback and the success metrics."""
    _exit("monitor", {"feature": feature, "window": window, "once": once, "json": as_json})


@rollout_app.command("history")
def history_command(
    feature: Annotated[str | None, typer.Argument()] = None, as_json: JsonFlag = False
) -> None:
    """The audit trail: who changed what, when."""
    _exit("history", {"feature": feature, "json": as_json})


@rollout_app.command("explain")
def explain_command(feature: str, server_ids: list[str]) -> None:
    """Whether each server gets FEATURE, and why."""
    _exit("explain", {"feature": feature, "servers": server_ids})


@rollout_app.command("export")
def export_command() -> None:
    """Print the whole rollout state as JSON (redirect it to a file)."""
    _exit("export", {})


@rollout_app.command("import")
def import_command(
    file: Path,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the whole state.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff, write nothing.")] = False,
    actor: Actor = None,
) -> None:
    """Apply an export (validated, diff printed first); only listed features change."""
    _exit("import", {"file": str(file), "replace": replace, "dry_run": dry_run, "actor": actor})

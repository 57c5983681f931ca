"""``ecs-gitops history``: an environment's audit records, newest first; ``--verify`` checks the hash chain."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, get_args

from reconciler.cli import EXIT_INVALID, EXIT_OK, ArgumentError, add_reconciler_options, build_components, check_commit_ref, local_settings

OUTPUTS = ("table", "json", "csv")
RELATIVE = re.compile(r"^(\d+)([mhd])$")
RELATIVE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
TIME_TAKES = "give an ISO 8601 time such as 2025-03-04T12:00:00Z or 2025-03-04 (UTC unless it names an offset), or an age such as 30m, 24h, 7d"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    history = commands.add_parser(
        "history", parents=[common],
        help="an environment's audit records, newest first (table, JSON or CSV); --verify checks the hash chain",
    )
    history.add_argument("--environment", required=True, metavar="NAME")
    history.add_argument("--since", metavar="TIME", help="records finished at or after TIME (ISO 8601, or an age: 30m, 24h, 7d)")
    history.add_argument("--until", metavar="TIME", help="records finished at or before TIME")
    history.add_argument("--commit", metavar="SHA", help="records of this commit (full SHA or a prefix of 7+ hex characters)")
    history.add_argument("--outcome", metavar="OUTCOME", help="records with this outcome: " + ", ".join(_outcomes()))
    history.add_argument("--kind", metavar="KIND", help="records of this event kind (e.g. converge-succeeded)")
    history.add_argument("--limit", default="50", metavar="N", help="at most N records (default: 50)")
    history.add_argument("--output", default="table", metavar="FORMAT", help="table (default), json or csv")
    history.add_argument(
        "--verify", action="store_true",
        help="recompute the stack's whole hash chain (the filters do not apply) and compare the archive bucket when set; exit 1 naming the first break",
    )
    history.add_argument("--desired-state", default=".", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    add_reconciler_options(history)
    history.set_defaults(handler=_cmd_history)


def _outcomes() -> tuple[str, ...]:
    from reconciler.models import Outcome

    return get_args(Outcome)


def parse_time(option: str, text: str, now: datetime | None) -> datetime | None:
    """``text`` as an aware time: ISO 8601 (UTC when it names no offset) or an age before ``now``.

    ``now`` None: only check the syntax (an age then gives None), before any store or clock is at hand.
    """
    out_of_range = ArgumentError(f"{option} {text!r} is out of range (give a time between the years 1 and 9999, or a shorter age)")
    if match := RELATIVE.fullmatch(text.strip()):
        try:
            age = timedelta(**{RELATIVE_UNITS[match.group(2)]: int(match.group(1))})
            return None if now is None else now - age
        except OverflowError:
            raise out_of_range from None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ArgumentError(f"{option} {text!r} is not a time ({TIME_TAKES})") from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    try:
        parsed.astimezone(UTC)  # the keys are UTC: a time that has no UTC form cannot bound them
    except OverflowError:
        raise out_of_range from None
    return parsed


def _choice(option: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise ArgumentError(f"{option} {value!r} is not one of {', '.join(allowed)}")
    return value


def _limit(text: str) -> int:
    # isdigit() alone admits "²" and other digits int() refuses.
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ArgumentError(f"--limit {text!r} is not a positive whole number (give how many records to show, e.g. 100)")
    return int(text)


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.audit.history import HistoryQuery, history_reader
    from reconciler.events import EventKind

    output = _choice("--output", args.output, OUTPUTS)
    outcome = _choice("--outcome", args.outcome, _outcomes())
    kind = _choice("--kind", args.kind, tuple(k.value for k in EventKind))
    commit = check_commit_ref(args.commit) if args.commit is not None else None
    limit = _limit(args.limit)
    if args.verify and output == "csv":
        raise ArgumentError("--verify prints a verdict, not records: use --output table or json with it")
    # Times are checked before any store is opened; an age is measured from the components' clock below.
    for option, text in (("--since", args.since), ("--until", args.until)):
        if text is not None:
            parse_time(option, text, None)
    settings = local_settings(args)
    stack = settings.environment(args.environment).stack
    components = build_components(settings, args)
    reader = history_reader(components.audit)
    if args.verify:
        return _verify(reader, components, stack, output, out)
    now = components.clock()
    since = parse_time("--since", args.since, now) if args.since is not None else None
    until = parse_time("--until", args.until, now) if args.until is not None else None
    if since is not None and until is not None and since > until:
        raise ArgumentError(f"--since {args.since} is after --until {args.until} (give the earlier time as --since)")
    records = reader.records(stack, HistoryQuery(since=since, until=until, commit=commit, outcome=outcome, kind=kind, limit=limit))
    from reconciler.audit.export import to_csv, to_json, to_table

    out.write({"table": to_table, "json": to_json, "csv": to_csv}[output or "table"](records))
    return EXIT_OK


def _verify(reader: Any, components: Any, stack: str, output: str | None, out: TextIO) -> int:
    from reconciler.audit.chain import ChainBreak, ChainVerdict, StoredTextError, verify_chain

    stored = reader.stored(stack)
    try:
        verdict = verify_chain(
            stored, stack=stack, head=reader.head(stack), genesis=reader.genesis(stack), expected_key=reader.expected_key,
            claims_read=True, claims=reader.claims(stack),
        )
    except StoredTextError as exc:  # a claim that cannot be read: the chain cannot be checked against it
        chained = sum(1 for r in stored if r.sequence is not None)
        verdict = ChainVerdict(stack, chained, len(stored) - chained, ChainBreak("corrupt", 0, None, str(exc), subject="claim"))
    archive = getattr(components.audit, "archive", None)
    mismatches = archive.compare(stack, stored) if archive is not None else []
    # Without a copy outside the table, a rewrite of records together with their claims leaves an intact chain.
    unanchored = (
        "not anchored: no archive bucket (aws.auditArchiveBucket) to compare with, so a rewrite of the records "
        "together with their claims, or a cut of the newest ones, cannot be detected from the store alone"
    )
    if output == "json":
        found = verdict.first_break
        out.write(json.dumps({
            "stack": stack,
            "intact": verdict.intact and not mismatches,
            "anchored": archive is not None,
            "chained": verdict.chained,
            "unchained": verdict.unchained,
            "genesis": verdict.genesis,
            "firstBreak": None if found is None else {
                "kind": found.kind, "subject": found.subject, "sequence": found.sequence, "after": found.after, "key": found.key, "detail": found.detail,
            },
            "archive": None if archive is None else {
                "bucket": archive.bucket,
                "mismatches": [{"kind": m.kind, "sequence": m.sequence, "key": m.key, "detail": m.detail} for m in mismatches],
            },
        }, indent=2) + "\n")
    else:
        out.write(verdict.summary() + "\n")
        if archive is not None:
            out.write(f"archive {archive.bucket}: " + (f"{len(mismatches)} difference(s)\n" if mismatches else "agrees with the table\n"))
            out.writelines(f"  {m.kind}: {m.detail}\n" for m in mismatches)
        else:
            out.write(unanchored + "\n")
    return EXIT_OK if verdict.intact and not mismatches else EXIT_INVALID

"""``kasparro export --format csv|ndjson [filters] > file``: every matching record.

The same export as ``GET /data.csv`` / ``GET /data.ndjson`` (``gql.exports``): the filters
of ``/data`` checked by the same rules, read in keyset batches of EXPORT_BATCH_ROWS, each
on a fresh connection, and written to stdout (or ``--output``) as they come. A bad filter
is a usage error (exit 2, the reason on stderr); a reader that stops early (``| head``)
stops the export quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kasparro.db.engine import create_db_engine
from kasparro.settings import Settings

FILTERS = ("source", "record-id", "asset", "symbol")


def add_export_parser(commands: Any) -> None:
    """Register the ``export`` subcommand on an ``add_subparsers`` object."""
    export = commands.add_parser("export", help="write every matching record as CSV or NDJSON")
    export.add_argument("--format", required=True, help="csv or ndjson")
    for name in FILTERS:
        export.add_argument(
            f"--{name}",
            action="append",
            metavar="VALUE",
            help=f"only this {name} (repeatable, or comma-separated), as /data's {name}",
        )
    export.add_argument("--since", help="inclusive lower bound, ISO 8601 (no offset: UTC)")
    export.add_argument("--until", help="exclusive upper bound, ISO 8601 (no offset: UTC)")
    export.add_argument("--order", choices=("desc", "asc"), default="desc")
    export.add_argument("--output", default="-", help="file to write, or - for stdout")
    export.set_defaults(handler=cmd_export)


def _values(given: list[str] | None) -> list[str]:
    return [part for value in given or () for part in value.split(",")]


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    # The web stack only when needed (see kasparro.cli.cmd_serve).
    from kasparro.gql import filters
    from kasparro.gql.errors import BadInput
    from kasparro.gql.exports import FORMATS, export_lines

    try:
        fmt = FORMATS.get(args.format.lower())
        if fmt is None:
            raise BadInput(f"--format: expected one of {', '.join(FORMATS)}, got {args.format!r}")
        wanted = filters.record_filters(
            source=_values(args.source),
            record_id=_values(args.record_id),
            asset=_values(args.asset),
            symbol=_values(args.symbol),
            since=filters.parse_timestamp("--since", args.since) if args.since else None,
            until=filters.parse_timestamp("--until", args.until) if args.until else None,
            names=("--source", "--record-id", "--asset", "--symbol", "--since", "--until"),
        )
    except BadInput as exc:
        print(f"kasparro export: {exc.message}", file=sys.stderr)
        return 2
    engine = create_db_engine(settings.app.database_url)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        for chunk in export_lines(
            engine.connect, fmt, wanted, args.order, None, settings.app.export_batch_rows
        ):
            out.write(chunk)
        out.flush()
    except BrokenPipeError:
        # The reader stopped (`| head`): stop reading too, and let the exit flush nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if out is not sys.stdout:
            out.close()
        engine.dispose()
    return 0

"""Admin actions over HTTP: checking the bearer token and running the ETL on demand.

Both ``runEtl`` and ``POST /etl/run`` go through ``authorize`` and ``run_etl_now``. Without
ADMIN_TOKEN set they are refused, never open (403, or 401 when no credentials were sent);
a missing or wrong token is a 401. The token is compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine

from kasparro.db import queries
from kasparro.db.queries import DbRow
from kasparro.etl.pipeline import STOPPED_ERROR
from kasparro.gql.dbcall import run_db
from kasparro.gql.errors import Conflict, Forbidden, Unauthorized, Unavailable


class RunResult(Protocol):
    """What an ETL run reports back (``etl.pipeline.RunSummary`` fits)."""

    @property
    def run_id(self) -> int | None: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> str | None: ...

    @property
    def recorded(self) -> bool:
        """False when the database has not accepted the run's end yet."""


class EtlRunner(Protocol):
    """Something that runs the ETL now (``etl.scheduler.EtlScheduler`` fits)."""

    async def run_now(self, sources: Sequence[str] | None = None) -> RunResult: ...


def authorize(admin_token: str | None, authorization: str | None) -> None:
    """Raise unless ``authorization`` is ``Bearer <admin_token>``.

    No credentials: 401. Credentials while the server has no ADMIN_TOKEN: 403 (nothing
    could succeed). A wrong token: 401.
    """
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        disabled = "" if admin_token else " (and this server has no ADMIN_TOKEN set)"
        raise Unauthorized(
            f"send the admin token as `Authorization: Bearer <ADMIN_TOKEN>`{disabled}"
        )
    if not admin_token:
        raise Forbidden("running the ETL over HTTP is disabled: the server has no ADMIN_TOKEN set")
    if not hmac.compare_digest(credentials.strip().encode(), admin_token.encode()):
        raise Unauthorized("wrong admin token")


async def run_etl_now(
    engine: Engine, runner: EtlRunner | None, sources: Sequence[str] | None
) -> DbRow:
    """Run the ETL (only ``sources`` when given) and return its ``etl_runs`` row.

    ``Unavailable`` (503, Retry-After) when the server stopped the run on its way down, or
    when the database would not take the run's end (the server records it later).
    """
    if runner is None:
        raise Forbidden("the ETL scheduler is not running in this process")
    result = await runner.run_now(sources)
    if result.run_id is None:
        raise Conflict(f"the ETL did not run (status {result.status}); try again later")
    if result.error == STOPPED_ERROR:
        raise Unavailable(
            f"the server is shutting down: ETL run {result.run_id} was stopped (its work up "
            "to the last batch is kept); run it again later"
        )
    if not result.recorded:
        raise Unavailable(
            f"ETL run {result.run_id} ended {result.status} ({result.error}), but the database "
            "has not accepted its record yet; the server records it when it can"
        )
    row = await run_db(engine, queries.etl_run, result.run_id)
    if row is None:
        raise LookupError(f"ETL run {result.run_id} vanished after it finished")
    return row

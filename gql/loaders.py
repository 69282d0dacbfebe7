"""Per-request DataLoaders: each batches the lookups of one request into one ``IN`` query.

Built fresh in ``get_context`` for every request, so nothing is cached across requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from strawberry.dataloader import DataLoader

from kasparro.db import queries
from kasparro.db.queries import DbRow
from kasparro.gql.dbcall import run_db


@dataclass(frozen=True, slots=True)
class Loaders:
    """The loaders of one request."""

    asset: DataLoader[str, DbRow | None]
    asset_sources: DataLoader[str, list[str]]
    run_sources: DataLoader[int, list[DbRow]]
    rejects: DataLoader[tuple[int, str, int], list[DbRow]]
    """Keyed by (run id, source, how many): a source run's first stored rejects."""


def build_loaders(engine: Engine, primary: Engine | None = None) -> Loaders:
    """Fresh loaders reading through ``engine`` (one worker-thread call per batch).

    A run's sources are read from ``primary`` (default ``engine``): ``runEtl`` returns the
    run it has just written, which a lagging read replica may not have yet.
    """
    runs_engine = primary or engine

    async def load_assets(ids: list[str]) -> list[DbRow | None]:
        rows = await run_db(engine, queries.assets_by_ids, ids)
        by_id = {row.id: row for row in rows}
        return [by_id.get(asset_id) for asset_id in ids]

    async def load_asset_sources(ids: list[str]) -> list[list[str]]:
        found = await run_db(engine, queries.sources_by_asset, ids)
        return [found[asset_id] for asset_id in ids]

    async def load_run_sources(run_ids: list[int]) -> list[list[DbRow]]:
        found = await run_db(runs_engine, queries.run_sources_by_run, run_ids)
        return [found[run_id] for run_id in run_ids]

    async def load_rejects(keys: list[tuple[int, str, int]]) -> list[list[DbRow]]:
        found: dict[tuple[int, str, int], list[DbRow]] = {}
        for limit in {limit for _, _, limit in keys}:  # one query per distinct `first`
            wanted = [(run_id, source) for run_id, source, at in keys if at == limit]
            rows = await run_db(runs_engine, queries.rejects_by_source_run, wanted, limit)
            found.update({(*key, limit): value for key, value in rows.items()})
        return [found[key] for key in keys]

    return Loaders(
        asset=DataLoader(load_fn=load_assets),
        asset_sources=DataLoader(load_fn=load_asset_sources),
        run_sources=DataLoader(load_fn=load_run_sources),
        rejects=DataLoader(load_fn=load_rejects),
    )

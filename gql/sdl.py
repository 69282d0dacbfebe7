"""The schema's SDL as committed in schema.graphql."""

from __future__ import annotations

from kasparro.gql.config import AppConfig
from kasparro.gql.schema import build_schema


def export_sdl() -> str:
    return build_schema(AppConfig()).as_str() + "\n"

"""GraphQL variables are bounded before anything coerces them.

The document's limits (MAX_QUERY_BYTES, MAX_QUERY_TOKENS, cost) look at the query text, but
its ``variables`` are JSON of up to MAX_REQUEST_BYTES, and graphql-core coerces them on the
event loop, value by value, once for the cost estimate and again to execute: a list of
150,000 strings for ``source: [String!]`` held the loop for two seconds. So before that, a
walk that stops at the first value past a limit refuses (``BadInput``, a 400) variables
holding

- more than ``max_values`` values in all (list items, object fields, the variables
  themselves): MAX_VARIABLE_VALUES;
- lists or objects nested more than ``max_depth`` deep (a variable's own value is depth 1):
  MAX_VARIABLE_DEPTH;
- a string (or object key) longer than ``max_string_chars`` characters:
  MAX_VARIABLE_STRING_CHARS.

The walk visits at most ``max_values`` + 1 values, so it is bounded however large the
request is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kasparro.gql.config import AppConfig
from kasparro.gql.errors import BadInput


@dataclass(frozen=True, slots=True)
class VariableLimits:
    """The bounds of one application's GraphQL variables."""

    max_values: int
    max_depth: int
    max_string_chars: int

    @classmethod
    def for_config(cls, config: AppConfig) -> VariableLimits:
        return cls(
            config.max_variable_values, config.max_variable_depth, config.max_variable_string_chars
        )

    def check(self, variables: Mapping[str, Any] | None) -> None:
        """Raise ``BadInput`` naming the limit when ``variables`` exceed one."""
        if not variables:
            return
        pending: list[tuple[Any, int]] = [(variables, 0)]
        seen = 0
        while pending:
            value, depth = pending.pop()
            if isinstance(value, str):
                self._string(value)
                continue
            if not isinstance(value, dict | list):
                continue
            if depth > self.max_depth:
                raise BadInput(
                    f"variables: nested more than {self.max_depth} lists or objects deep "
                    "(MAX_VARIABLE_DEPTH)"
                )
            seen += len(value)
            if seen > self.max_values:
                raise BadInput(
                    f"variables: more than {self.max_values:,} values (list items and object "
                    "fields, MAX_VARIABLE_VALUES); send fewer values or split the request"
                )
            if isinstance(value, dict):
                for key in value:
                    self._string(key)
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)

    def _string(self, text: str) -> None:
        if len(text) > self.max_string_chars:
            raise BadInput(
                f"variables: a string of {len(text):,} characters, over the limit of "
                f"{self.max_string_chars:,} (MAX_VARIABLE_STRING_CHARS)"
            )

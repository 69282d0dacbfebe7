"""The validation rules of one application: the specification's, bounded, and ours.

Every rule is linear in the document or has a budget, so validating any document under
the token limit takes milliseconds:

- the specification's rules (graphql-core), with OverlappingFieldsCanBeMerged given a
  budget of ``max_query_merge_budget`` units of work instead of graphql-core's 500,000
  (about a second): comparing fields that share a response name is quadratic in their
  number, and a document of 600 ``records { nodes { source } }`` needs 180,000 pairs.
  Past the budget the validation stops with ``ABORTED``. graphql-core also aborts when
  fragments nest more than 200 deep and refuses introspection nested too deeply;
- ``gql.shape``: MAX_QUERY_DEPTH and MAX_QUERY_ALIASES, each fragment computed once;
- with INTROSPECTION off, graphql-core's NoSchemaIntrospectionCustomRule.
"""

from __future__ import annotations

from graphql import ASTValidationRule, GraphQLError, ValidationContext, specified_rules
from graphql.validation import (
    NoSchemaIntrospectionCustomRule,
    OverlappingFieldsCanBeMergedRule,
)

from kasparro.gql.config import AppConfig
from kasparro.gql.shape import shape_rule

ABORTED = (
    "Validation aborted: the document is too complex to check (fields sharing a response "
    "name compared beyond MAX_QUERY_MERGE_BUDGET, or fragments nested too deeply); "
    "send a simpler document"
)
"""What a client reads instead of graphql-core's bare "Validation aborted."."""

_GRAPHQL_CORE_ABORTED = "Validation aborted."


def overlap_rule(budget: int) -> type[ASTValidationRule]:
    """OverlappingFieldsCanBeMerged with a work budget of ``budget`` units."""

    class BudgetedOverlappingFields(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context.remaining_complexity_budget = budget

    return BudgetedOverlappingFields


def validation_rules(config: AppConfig) -> tuple[type[ASTValidationRule], ...]:
    """Every rule a document of this application is validated with."""
    overlap = overlap_rule(config.max_query_merge_budget)
    rules: list[type[ASTValidationRule]] = [
        overlap if rule is OverlappingFieldsCanBeMergedRule else rule for rule in specified_rules
    ]
    rules.append(shape_rule(config.max_query_depth, config.max_query_aliases))
    if not config.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def explained(errors: list[GraphQLError]) -> list[GraphQLError]:
    """``errors`` with graphql-core's bare abort message replaced by ``ABORTED``."""
    return [
        GraphQLError(ABORTED) if error.message == _GRAPHQL_CORE_ABORTED else error
        for error in errors
    ]

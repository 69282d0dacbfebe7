"""A compiled execution path for list queries (GRAPHQL_COMPILED).

Python GraphQL execution walks every field of every row; for a page of records that
costs several times what REST pays for the same rows. An operation whose only root field
is ``records`` or ``latestPrices`` (plus ``__typename``) and whose selection below it is
made of scalar leaves (for ``latestPrices``, also ``asset { id symbol name }``), aliases,
``__typename``, variables and fragments is compiled once into a plan
(``gql.compiled.plan``; plans are cached per application by query text and operation
name) and answered from the rows of ``db.queries.records`` or ``db.queries.latest_prices``,
the functions the resolvers call, without per-field resolution (``gql.compiled.build``).

Parsing, validation, operation metrics, error masking and the JSON encoding of the
response are Strawberry's, unchanged: the seam is a schema extension's ``on_execute``
(``gql.compiled.extension``). Once an operation has a plan (so its document is known to
parse and validate), the GraphQL view answers later requests for it before Strawberry's
extension machinery runs, recording the same operation metric (``gql.compiled.fastpath``,
through ``gql.view``).
Anything else runs normally: other root fields (``etlRuns``: at most 100 runs, its
``sources`` from a DataLoader), several root fields, ``Record.asset`` and ``Asset.sources``
(DataLoaders), directives, mutations, subscriptions,
introspection, and any request normal execution would answer with an error (bad
variables or arguments, values it cannot serialize, a database failure).

Every use of Strawberry's internals in the service is in this package, in
``gql.compiled.seam`` (the graphql-core schema, document validation, argument names); the
view (``gql.view``) runs operations through the schema's public ``execute`` and overrides
only the documented ``encode_json``. The package imports none
of its modules here, so ``gql.documents`` and friends can import the seam.
"""

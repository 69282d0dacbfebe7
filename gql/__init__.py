"""The HTTP face of the store: Strawberry GraphQL, REST shims and the Starlette app factory."""

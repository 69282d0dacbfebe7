"""The unified store: tables, engine, migrations, read queries and write helpers."""

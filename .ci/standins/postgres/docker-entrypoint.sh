#!/bin/sh
# The postgres:16 stand-in's entry point: on an empty data directory, initdb with
# POSTGRES_USER as the superuser and POSTGRES_PASSWORD as its password, create
# POSTGRES_DB, and require passwords over TCP; then run the server as the postgres user.
set -eu

if [ "${1:-}" != "postgres" ]; then
  exec "$@"
fi
: "${POSTGRES_PASSWORD:?the postgres:16 stand-in needs POSTGRES_PASSWORD}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"

install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  chown postgres "$password_file"
  $as_postgres initdb --username="$user" --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  $as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
  if [ "$database" != "postgres" ]; then
    $as_postgres psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres \
      -c "CREATE DATABASE \"$database\"" >/dev/null
  fi
  $as_postgres pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  echo "postgres:16 stand-in: initialised $PGDATA for $user/$database"
fi
shift
exec $as_postgres postgres -c listen_addresses='*' "$@"

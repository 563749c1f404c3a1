#!/usr/bin/env bash
# `alembic check` on an empty SQLite file and an empty PostgreSQL database, each first
# brought to head: fails when storfleet/store/schema.py and the migrations drift apart.
set -euo pipefail
cd "$(dirname "$0")/.."
ALEMBIC=${ALEMBIC:-.venv/bin/alembic}
PG_ADMIN_URL=${STORFLEET_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
tmp=$(mktemp -d)
db="storfleet_migcheck_$$"
cleanup() {
  rm -rf "$tmp"
  psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

export STORFLEET_DATABASE_URL="sqlite:///$tmp/check.db"
$ALEMBIC -c alembic.ini upgrade head >/dev/null 2>&1 || $ALEMBIC -c alembic.ini upgrade head
$ALEMBIC -c alembic.ini check

psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null
export STORFLEET_DATABASE_URL="${PG_ADMIN_URL%/*}/$db"
$ALEMBIC -c alembic.ini upgrade head >/dev/null 2>&1 || $ALEMBIC -c alembic.ini upgrade head
$ALEMBIC -c alembic.ini check

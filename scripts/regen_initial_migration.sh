#!/usr/bin/env bash
# Until storfleet's first release the schema has ONE migration, regenerated from the model
# (storfleet/store/schema.py) whenever a table changes. After the first release this
# script goes away and every change gets its own migration.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f storfleet/store/migrations/versions/*.py
STORFLEET_DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic revision --autogenerate \
  -m "initial schema" --rev-id 0001 >/dev/null
file=storfleet/store/migrations/versions/0001_initial_schema.py
sed -i 's/^Revises: $/Revises:/' "$file"
.venv/bin/ruff format -q "$file"
.venv/bin/ruff check --fix -q "$file"
./scripts/check_migrations.sh

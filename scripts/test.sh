#!/usr/bin/env bash
# Run the whole test suite (SQLite always; PostgreSQL/Redis when their URLs are set).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --browser
export PATH="$HOME/.local/bin:$PATH"
exec uv run --frozen pytest -n "${XIAODIAN_TEST_WORKERS:-2}" "$@"

#!/usr/bin/env bash
# Start the demo shop: embedded SQLite in ./data, demo data, background worker in-process.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$HOME/.local/bin:$PATH"
exec uv run --frozen xiaodian demo "$@"

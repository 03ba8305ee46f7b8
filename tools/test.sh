#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, static checks, then pytest
# (unit tests and end-to-end tests against a real regtest monerod).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
PYTHON=${PYTHON:-python3}
echo "== ruff"; "$PYTHON" -m ruff check lws tests tools
echo "== mypy"; "$PYTHON" -m mypy lws/monero lws/store
echo "== pytest"; "$PYTHON" -m pytest -q -p no:cacheprovider "$@"

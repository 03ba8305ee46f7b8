#!/usr/bin/env bash
# Installs everything lws and its tests need on a fresh Debian machine:
# Debian's monero (monerod, monero-wallet-rpc) and monero-tests (crypto test
# vectors, C++ performance tests), then lws itself with its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v monerod >/dev/null 2>&1 || need_apt+=(monero)
command -v monero-wallet-rpc >/dev/null 2>&1 || need_apt+=(monero)
[ -f /usr/share/monero/testdata/crypto/tests.txt ] || need_apt+=(monero-tests)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -E "^WARNING: (Running pip as|Location)" || true
"$PYTHON" -c "import lws, nacl, lmdb, msgspec, trio" # fails loudly if the install did not take

# The real MyMonero clients for tests/interop (pinned in its package-lock.json);
# without npm those tests skip.
if command -v npm >/dev/null 2>&1; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi

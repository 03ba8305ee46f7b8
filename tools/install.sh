#!/usr/bin/env bash
# Installs everything lws and its tests need on a fresh Debian machine:
# Debian's monero (monerod, monero-wallet-rpc) and monero-tests (crypto test
# vectors, C++ performance tests), a C compiler and Python's headers for
# lws's one C extension (lws/monero/_derivations.c), Debian's chromium (the
# browser tests of the operator console drive it headless through
# Playwright's Python package; nothing downloads a browser), systemd's
# systemd-analyze (the unit's test), then lws itself with its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v monerod >/dev/null 2>&1 || need_apt+=(monero)
command -v monero-wallet-rpc >/dev/null 2>&1 || need_apt+=(monero)
[ -f /usr/share/monero/testdata/crypto/tests.txt ] || need_apt+=(monero-tests)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-liberation)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -E "^WARNING: (Running pip as|Location)" || true
"$PYTHON" -c "import lws, nacl, lmdb, msgspec, trio, prometheus_client, playwright" # fails loudly if the install did not take
# The C extension is optional for lws (it scans without it, ~2x slower with
# many accounts) but not here: a machine set up by this script has a compiler.
"$PYTHON" -c "import lws.monero._derivations" || {
  echo "install.sh: the C extension lws.monero._derivations did not build (see pip's output)" >&2
  exit 1
}

# The real MyMonero clients for tests/interop (pinned in its package-lock.json);
# without npm those tests skip.
if command -v npm >/dev/null 2>&1; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi

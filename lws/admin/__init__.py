# Owns the operator-facing command-line front ends: `lws admin` (cli.py, on
# the store, through lws.services.admin) and `lws import-request`
# (import_request.py, a client of any light-wallet server). Must not hold
# business logic: services do.
"""Command-line front ends for operators and wallet owners."""

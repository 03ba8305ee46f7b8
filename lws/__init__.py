"""lws: a self-hosted Monero light-wallet server.

This package root owns only the version string; every part lives in its own
subpackage (see DESIGN.md for the layering)."""

__version__ = "0.1.0.dev0"

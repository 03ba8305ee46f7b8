# Owns the public face of the scan package: the scanner task, its worker
# pool and its status. Must not add logic.
"""Scanning: monerod's blocks -> each account's outputs and candidate spends."""

from .pool import ScanPool
from .scanner import Scanner
from .status import ScannerStatus, ScanState

__all__ = ["ScanPool", "ScanState", "Scanner", "ScannerStatus"]

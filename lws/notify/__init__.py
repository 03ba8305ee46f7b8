# Owns the public face of lws.notify: the webhook delivery engine (a
# long-running part of `lws serve`), the bodies and signatures it sends, and
# the /feed hub. Must not add logic here.
"""Pushed events: webhooks from the outbox, and the /feed websocket."""

from .bodies import render, signature
from .engine import DeliveryEngine, DeliverySettings, NotifyStatus

__all__ = ["DeliveryEngine", "DeliverySettings", "NotifyStatus", "render", "signature"]

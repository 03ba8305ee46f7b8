# Owns the tests of the console blueprint on a Quart-Trio app with Quart's
# own test client, over a real store: the session cookie's flags (HttpOnly,
# SameSite=Strict, path /console, Secure when the listener has TLS), the
# security headers, sign-in with a good and a wrong key, CSRF refusals, and
# a form larger than the console accepts. The browser tests
# (tests/console) drive the same pages through a real lws serve.
"""The console app without a browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from quart_trio import QuartTrio

from lws.api.console import MAX_FORM_BYTES, SESSION_COOKIE, console_blueprint
from lws.config import Config
from lws.daemon import Daemon
from lws.services import admin
from lws.services.context import Services
from lws.store import Store
from lws.wire.admin import CreateAdminKeyParams
from tests.api.conftest import DEAD_DAEMON


@pytest.fixture
async def svc(store: Store) -> AsyncIterator[Services]:
    daemon = Daemon(DEAD_DAEMON, timeout=2)
    yield Services(Config(network="regtest"), store, daemon)
    await daemon.aclose()


def make_app(svc: Services, *, tls: bool) -> QuartTrio:
    app = QuartTrio(__name__)
    app.register_blueprint(console_blueprint(svc, tls=tls))
    return app


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


@pytest.mark.parametrize("tls", [False, True])
async def test_cookie_flags_and_headers(svc: Services, tls: bool) -> None:
    client = make_app(svc, tls=tls).test_client()
    reply = await client.get("/console/login")
    assert reply.status_code == 200
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert ("Secure" in cookie) is tls
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Cache-Control"] == "no-store"


async def test_sign_in_and_csrf(svc: Services) -> None:
    key = await admin.create_admin_key(svc, CreateAdminKeyParams(name="t"), admin.CLI)
    client = make_app(svc, tls=False).test_client()
    root = await client.get("/")
    assert root.status_code == 303 and root.headers["Location"].endswith("/console/")
    assert (await client.get("/console/")).status_code == 303  # to the sign-in page
    page = await (await client.get("/console/login")).get_data(as_text=True)
    token = csrf_of(page)
    # No token: refused before the key is even looked at.
    refused = await client.post("/console/login", form={"key": key.key})
    assert refused.status_code == 403
    wrong = await client.post("/console/login", form={"key": "00" * 32, "csrf": token})
    assert wrong.status_code == 403
    assert admin.FORBIDDEN_KEY_TEXT in await wrong.get_data(as_text=True)
    good = await client.post("/console/login", form={"key": key.key, "csrf": token})
    assert good.status_code == 303
    overview = await client.get("/console/requests")
    assert overview.status_code == 200
    new_token = csrf_of(await overview.get_data(as_text=True))
    assert new_token != token  # a new session, a new token
    stale = await client.post("/console/logout", form={"csrf": token})
    assert stale.status_code == 403
    out = await client.post("/console/logout", form={"csrf": new_token})
    assert out.status_code == 303
    assert (await client.get("/console/requests")).status_code == 303


async def test_an_oversized_form_is_refused(svc: Services) -> None:
    client = make_app(svc, tls=False).test_client()
    token = csrf_of(await (await client.get("/console/login")).get_data(as_text=True))
    body = f"csrf={token}&key={'x' * MAX_FORM_BYTES}".encode()
    reply = await client.post(
        "/console/login",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(len(body)),
        },
    )
    assert reply.status_code == 413


async def test_a_form_naming_every_pending_request_is_read(svc: Services) -> None:
    """Accept all of 10,000 pending requests is one ~1 MB form: read whole, not refused."""
    key = await admin.create_admin_key(svc, CreateAdminKeyParams(name="t"), admin.CLI)
    client = make_app(svc, tls=False).test_client()
    token = csrf_of(await (await client.get("/console/login")).get_data(as_text=True))
    await client.post("/console/login", form={"key": key.key, "csrf": token})
    token = csrf_of(await (await client.get("/console/requests")).get_data(as_text=True))
    shown = [("shown", "4" + "A" * 94)] * 10_000
    reply = await client.post(
        "/console/requests",
        form=[("csrf", token), ("type", "create"), ("bulk", "accept-all"), *shown],
    )
    assert reply.status_code == 303  # refused by the service (409: no such request), not 413
    page = await (await client.get("/console/requests")).get_data(as_text=True)
    assert "Refused" in page

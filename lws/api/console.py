# Owns the operator console: server-rendered pages (Jinja templates in
# api/templates/console, one stylesheet and one small refresh script in
# api/static/console; no build step) under /console on the admin listener.
# Sign-in with an admin key; a session cookie (signed, HttpOnly, SameSite
# Strict, Secure under TLS, path /console, ends with the key's revocation or
# after SESSION_LIFETIME); a CSRF token in every form, checked on every POST;
# pages: overview, pending requests (accept / reject one or many), accounts
# (search, status, rescan, delete after a confirmation page), webhooks (the
# hooks, the outbox, recent or failed deliveries; delete a hook, send a
# delivery again). Every action is a plain form POST answered by a redirect
# (works without JavaScript) and calls the same services as the admin API
# (services/admin.py), with the console's key as the audit caller. Must not
# hold business logic or touch the store.
"""The operator console (Quart blueprint)."""

from __future__ import annotations

import datetime
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from quart import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as WerkzeugResponse

import lws
from lws.errors import LwsError
from lws.services import admin, console, health, webhooks
from lws.services.context import Services
from lws.wire.admin import (
    AddressesParams,
    ModifyAccountStatusParams,
    RequestsParams,
    RescanParams,
)
from lws.wire.webhooks import (
    WebhookDeleteUuidParams,
    WebhookDeliveriesParams,
    WebhookRedeliverParams,
)

from .admin_routes import MAX_ADMIN_BODY

T = TypeVar("T")
#: What a view returns: a page, or a redirect (werkzeug's type).
Reply = Response | WerkzeugResponse

#: How long a console session lasts without signing in again: a working day.
SESSION_LIFETIME = datetime.timedelta(hours=12)
#: The session cookie's name (the admin API itself uses no cookie).
SESSION_COOKIE = "lws_console"
#: The largest form the console accepts: the admin listener's body cap, which
#: "accept all" of 10,000 pending requests (MAX_ADMIN_ADDRESSES, ~1 MB of
#: addresses) fits.
MAX_FORM_BYTES = MAX_ADMIN_BODY
#: Deliveries the webhooks page lists (the newest): a page a person reads.
DELIVERY_ROWS = 50
#: Seconds between the overview's refreshes (its script; a reload otherwise).
REFRESH_SECONDS = 10
#: Every console reply: no caching of pages that show accounts, no framing
#: (clickjacking), nothing loaded from elsewhere, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: Pages reachable without a session.
_OPEN_ENDPOINTS = {"console.login", "console.static"}

STATUS_NAMES = tuple(admin.STATUS_BY_NAME)


class FormRefused(LwsError):
    """A console form without its CSRF token, or with another session's."""

    http_status = 403


def _filesize(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _when(value: int | None) -> str:
    if not value:
        return "-"
    moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def console_blueprint(svc: Services, *, tls: bool) -> Blueprint:
    """The console over ``svc``; ``tls``: the admin listener serves HTTPS
    (the cookie is then Secure)."""
    bp = Blueprint(
        "console",
        __name__,
        url_prefix="/console",
        template_folder="templates",
        static_folder="static/console",
        static_url_path="/static",
    )

    @bp.record_once
    def _configure(state: Any) -> None:
        app = state.app
        if app.secret_key is None:
            # Sessions are signed with a key of this process: a restart signs
            # everyone out, which an admin console can afford.
            app.secret_key = secrets.token_bytes(32)
        app.config.update(
            SESSION_COOKIE_NAME=SESSION_COOKIE,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Strict",
            SESSION_COOKIE_SECURE=tls,
            SESSION_COOKIE_PATH="/console",
            PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        )
        app.jinja_env.filters["filesize"] = _filesize
        app.jinja_env.filters["when"] = _when

        async def to_console() -> Reply:
            return redirect(url_for("console.overview"), 303)

        # A person who opens the admin listener's address finds the console.
        app.add_url_rule("/", "console_root", to_console, methods=["GET"])

    async def _page(template: str, section: str, code: int = 200, **values: Any) -> Response:
        signed_in = "kid" in session
        pending = await health.pending_requests(svc) if signed_in else 0
        body = await render_template(
            f"console/{template}",
            csrf=_csrf_token(),
            signed_in=signed_in,
            section=section,
            nav_pending=pending,
            version=lws.__version__,
            network=svc.config.network,
            **values,
        )
        return Response(body, code, content_type="text/html; charset=utf-8")

    def _caller() -> admin.Caller:
        return admin.Caller(f"console key {session['kid']}")

    @bp.before_request
    async def _guard() -> Reply | None:
        if request.method == "POST":
            if (request.content_length or 0) > MAX_FORM_BYTES:
                raise RequestEntityTooLarge()
            request.max_content_length = MAX_FORM_BYTES
            request.max_form_memory_size = MAX_FORM_BYTES
            form = await request.form
            expected = session.get("csrf")
            sent = form.get("csrf", "")
            if not isinstance(expected, str) or not hmac.compare_digest(
                expected.encode(), sent.encode()
            ):
                raise FormRefused(
                    "This form has expired or is not from this console: reload the page"
                )
        if request.endpoint in _OPEN_ENDPOINTS:
            return None
        key_id = session.get("kid")
        if not isinstance(key_id, int) or not await console.key_alive(svc, key_id):
            session.pop("kid", None)
            if request.method == "POST":
                raise FormRefused("Your session has ended: sign in again")
            return redirect(url_for("console.login"), 303)
        return None

    @bp.after_request
    async def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @bp.errorhandler(FormRefused)
    async def _refused(exc: FormRefused) -> Response:
        return await _error_page(403, "Refused", str(exc))

    @bp.errorhandler(RequestEntityTooLarge)
    async def _too_large(exc: RequestEntityTooLarge) -> Response:
        return await _error_page(
            413, "Too large", f"The console accepts forms of {MAX_FORM_BYTES} bytes at most"
        )

    async def _error_page(status: int, heading: str, message: str) -> Response:
        back = url_for("console.overview") if "kid" in session else url_for("console.login")
        return await _page(
            "error.html",
            "",
            status,
            heading=heading,
            message=message,
            status_code=status,
            back=back,
        )

    async def _act(action: Callable[[], Awaitable[T]], done: Callable[[T], str]) -> None:
        """Run a service call, flashing what it did or why it was refused."""
        try:
            result = await action()
        except msgspec.ValidationError as exc:
            await flash(f"Refused: {exc}", "error")
        except LwsError as exc:
            await flash(f"Refused: {exc}", "error")
        else:
            await flash(done(result), "ok")

    # --- sign in and out -------------------------------------------------------

    @bp.route("/login", methods=["GET", "POST"])
    async def login() -> Reply:
        if request.method == "GET":
            if "kid" in session:
                return redirect(url_for("console.overview"), 303)
            return await _page("login.html", "login")
        form = await request.form
        try:
            key_id = await admin.authenticate_key_id(svc, form.get("key", "").strip())
        except LwsError as exc:
            return await _page("login.html", "login", 403, error=str(exc))
        session.clear()
        session.permanent = True
        session["kid"] = key_id
        session["csrf"] = secrets.token_urlsafe(32)  # a new token for the new session
        return redirect(url_for("console.overview"), 303)

    @bp.route("/logout", methods=["POST"])
    async def logout() -> Reply:
        session.clear()
        return redirect(url_for("console.login"), 303)

    # --- overview --------------------------------------------------------------

    @bp.route("/", methods=["GET"])
    async def overview() -> Reply:
        state = await health.server_state(svc)
        ready = await health.readiness(svc)
        return await _page(
            "overview.html",
            "overview",
            state=state,
            ready=ready,
            refresh_seconds=REFRESH_SECONDS,
            now=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )

    # --- pending requests -----------------------------------------------------

    @bp.route("/requests", methods=["GET"])
    async def requests_page() -> Reply:
        listed = await admin.list_requests(svc)
        kinds = [("create", listed.create or []), ("import", listed.import_ or [])]
        return await _page("requests.html", "requests", kinds=kinds)

    @bp.route("/requests", methods=["POST"])
    async def requests_action() -> Reply:
        form = await request.form
        kind = form.get("type", "")
        one = form.get("one")
        if one:
            verb, _, address = one.partition(" ")
            addresses = [address]
        else:
            bulk = form.get("bulk", "")
            verb, _, scope = bulk.partition("-")
            addresses = form.getlist("shown" if scope == "all" else "selected")
        if not addresses:
            await flash("Select at least one request first", "error")
            return redirect(url_for("console.requests_page"), 303)
        if verb not in ("accept", "reject"):
            await flash("Unknown action", "error")
            return redirect(url_for("console.requests_page"), 303)
        call = admin.accept_requests if verb == "accept" else admin.reject_requests

        async def act() -> Any:
            params = msgspec.convert({"type": kind, "addresses": addresses}, RequestsParams)
            return await call(svc, params, _caller())

        past = "accepted" if verb == "accept" else "rejected"
        await _act(act, lambda reply: f"{len(reply.updated)} {kind} request(s) {past}")
        return redirect(url_for("console.requests_page"), 303)

    # --- accounts -----------------------------------------------------------------

    def _status_filter(value: str | None) -> str:
        return value if value in admin.STATUS_BY_NAME else ""

    @bp.route("/accounts", methods=["GET"])
    async def accounts_page() -> Reply:
        query = request.args.get("q", "")
        status = _status_filter(request.args.get("status"))
        found = await console.search_accounts(
            svc, query, admin.STATUS_BY_NAME[status] if status else None
        )
        return await _page(
            "accounts.html",
            "accounts",
            found=found,
            query=query,
            status=status,
            statuses=STATUS_NAMES,
        )

    @bp.route("/accounts", methods=["POST"])
    async def accounts_action() -> Reply:
        form = await request.form
        query = form.get("q", "")
        status = _status_filter(form.get("status_filter"))
        back = redirect(
            url_for("console.accounts_page", q=query or None, status=status or None), 303
        )
        one = form.get("one")
        if one:
            verb, _, address = one.partition(" ")
            addresses = [address]
        else:
            verb = form.get("bulk", "")
            addresses = form.getlist("selected")
        if not addresses:
            await flash("Select at least one account first", "error")
            return back
        caller = _caller()
        if verb == "delete":
            # The confirmation step: nothing is deleted until it is posted back.
            return await _page(
                "confirm_delete.html", "accounts", addresses=addresses, query=query, status=status
            )
        if verb == "delete-confirmed":

            async def delete() -> Any:
                params = msgspec.convert({"addresses": addresses}, AddressesParams)
                return await admin.delete_accounts(svc, params, caller)

            await _act(delete, lambda reply: f"{len(reply.updated)} account(s) deleted")
        elif verb == "status":
            new_status = form.get("new_status", "")

            async def set_status() -> Any:
                params = msgspec.convert(
                    {"status": new_status, "addresses": addresses}, ModifyAccountStatusParams
                )
                return await admin.modify_account_status(svc, params, caller)

            await _act(
                set_status, lambda reply: f"{len(reply.updated)} account(s) now {new_status}"
            )
        elif verb == "rescan":
            height_text = form.get("height", "").strip().replace(",", "")
            if not height_text.isdigit():
                await flash("Refused: give the height to rescan from as a whole number", "error")
                return back

            async def rescan() -> Any:
                params = msgspec.convert(
                    {"height": int(height_text), "addresses": addresses}, RescanParams
                )
                return await admin.rescan(svc, params, caller)

            await _act(
                rescan,
                lambda reply: f"{len(reply.updated)} account(s) rescan from {int(height_text):,}",
            )
        else:
            await flash("Unknown action", "error")
        return back

    # --- webhooks -----------------------------------------------------------------

    @bp.route("/webhooks", methods=["GET"])
    async def webhooks_page() -> Reply:
        failed_only = request.args.get("failed") == "1"
        hooks = await console.hook_rows(svc)
        listed = await webhooks.webhook_deliveries(
            svc, WebhookDeliveriesParams(failed=failed_only, limit=DELIVERY_ROWS)
        )
        return await _page(
            "webhooks.html",
            "webhooks",
            hooks=hooks,
            deliveries=listed.deliveries,
            outbox=listed.outbox,
            failed_only=failed_only,
        )

    @bp.route("/webhooks", methods=["POST"])
    async def webhooks_action() -> Reply:
        form = await request.form
        event_id = form.get("delete")
        delivery_id = form.get("redeliver")
        if event_id:

            async def delete() -> Any:
                params = msgspec.convert({"event_ids": [event_id]}, WebhookDeleteUuidParams)
                return await webhooks.webhook_delete_uuid(svc, params, _caller())

            await _act(delete, lambda _: f"Webhook {event_id} deleted")
        elif delivery_id:

            async def redeliver() -> Any:
                params = msgspec.convert({"delivery_id": delivery_id}, WebhookRedeliverParams)
                return await webhooks.webhook_redeliver(svc, params, _caller())

            await _act(redeliver, lambda _: f"Delivery {delivery_id} queued to be sent again")
        else:
            await flash("Unknown action", "error")
        return redirect(url_for("console.webhooks_page"), 303)

    return bp


__all__ = ["SESSION_COOKIE", "console_blueprint"]

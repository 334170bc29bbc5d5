#!/usr/bin/python3
"""A Passage-compatible HTTPS server for pam_passage's tests.

It keeps refresh tokens, rotation, revocation and expiry in memory, logs
every Passage API request it receives, and can misbehave on purpose.

Command line (used by `make demo`):

    passage_server.py --cert CERT.pem --key KEY.pem [--host 127.0.0.1]
                      [--port 0] [--port-file FILE] [--app-id ID ...]
                      [--log-file FILE] [--lifetime SECONDS]

Once listening it writes the port to --port-file (atomically), then serves
until SIGTERM or SIGINT, or until --lifetime seconds (default 3600) have
passed, so that a forgotten server never lingers.

In-process use (the pytest fixtures):

    server = PassageServer(cert, key).start()   # server.port, server.url
    ...
    server.stop()

Passage API, under /v1: the two calls of Passage's tokens API that
pam_passage makes, refresh and revoke:

    POST   /v1/apps/{app_id}/tokens   body {"refresh_token": "..."}
    DELETE /v1/apps/{app_id}/tokens?refresh_token=...

  The app ids known are "test-app" and those given with --app-id; any
  other is 404 app_not_found.  A refresh token rotates on every successful
  refresh; sending an already rotated token again is taken as theft: the
  reply is 401 and the token's whole chain is revoked.  The auth token is
  an HS256 JWT with sub, exp, iat, iss ("passage-test"), aud (the app id)
  and a unique jti.

Control API, under /_control, JSON in and out, never logged:

    POST /_control/issue   {"sub"?, "app_id"?, "refresh_ttl"?}
        -> {"refresh_token", "sub", "app_id", "chain", "expires"}
        A fresh chain, to deposit in a store.
    POST /_control/config  any of:
        {"auth_ttl": 300, "refresh_ttl": 86400,
         "omit_refresh_token": false,
         "fail": FAILURE or null, "fail_count": N or null}
        -> {"config": {...}}  (GET /_control/config reads it)
    GET  /_control/log     -> {"requests": [ENTRY, ...]}
    GET  /_control/tokens  -> {"tokens": {TOKEN: {"state", "sub", "app_id",
                                                   "chain", "expires"}}}
    POST /_control/reset   {"all": false}
        Clears configuration and failures; with "all", tokens and log too.

  A log ENTRY has: seq, time, method, path (decoded, without query),
  raw_path (as sent, without query), query (as sent), app_id,
  refresh_token (from the JSON body for POST, the query otherwise; null
  if none), status (null until answered, and for a dropped connection),
  reuse, content_type, accept.  Entries come in order of arrival; the
  log file gets each one once it is answered.

  omit_refresh_token makes successful refreshes answer without
  refresh_token and refresh_token_expiration, and leaves the token sent
  valid: a server without rotation.

  FAILURE is {"mode": MODE, ...} or just "MODE".  It applies to the next
  fail_count requests to the tokens endpoint (every one while fail_count
  is null); fail_count 0 or "fail": null clears it.  Modes:

    {"mode": "status", "status": 503, "code"?: "...", "error"?: "..."}
        that status with {"code", "error"}; "mode" may be left out when
        "status" is given.
    "bad_json"        200 with the body `not json{`
    "missing_fields"  200 with {"auth_result": {}}
    "wrong_types"     200 with auth_token a number (and the other fields
                      of the wrong type too)
    "huge"            200 with a valid JSON body of over 1 MiB
    {"mode": "slow", "delay": 3}
                      waits, then answers normally (tokens do rotate)
    "drop"            closes the connection without answering
    "redirect"        302 to https://HOST:PORT/v1/elsewhere

  Every mode but "slow" answers without looking at the tokens: the token
  sent stays as it was.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_APP_ID = "test-app"
ISSUER = "passage-test"

ACTIVE, USED, REVOKED = "active", "used", "revoked"

CONFIG_DEFAULTS = {
    "auth_ttl": 300,
    "refresh_ttl": 86400,
    "omit_refresh_token": False,
    "fail": None,
    "fail_count": None,
}

FAIL_MODES = frozenset({
    "status", "bad_json", "missing_fields", "wrong_types", "huge",
    "slow", "drop", "redirect",
})
FAILURE_KEYS = frozenset({"mode", "status", "code", "error", "delay"})

# A Passage-like code for each status, so that an injected failure looks
# like a real one unless the test names its own code.
ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_refresh_token",
    403: "operation_not_allowed",
    404: "app_not_found",
    429: "too_many_requests",
    500: "internal_server_error",
}

MAX_DELAY = 300           # seconds; keeps a "slow" test bounded
MAX_REQUEST_BODY = 1 << 20
HUGE_BODY = 1 << 20       # well over the 64 KiB a client should accept


class ControlError(Exception):
    """A control request that makes no sense; answered with 400."""


@dataclass
class Reply:
    """An HTTP answer, built before anything is written to the socket."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict = field(default_factory=dict)


def json_reply(status, obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Reply(status, body, "application/json")


def error_reply(status, code, message):
    return json_reply(status, {"code": code, "error": message})


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(secret, claims):
    """Sign claims as a compact HS256 JWT."""
    header = {"alg": "HS256", "typ": "JWT"}
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode())
             for p in (header, claims)]
    signing_input = ".".join(parts).encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return ".".join(parts + [b64url(signature)])


def decode_jwt(token, secret=None):
    """Return a JWT's claims; with secret, check the signature first."""
    header, payload, signature = token.split(".")
    if secret is not None:
        signing_input = f"{header}.{payload}".encode("ascii")
        expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64url_decode(signature)):
            raise ValueError("JWT signature does not match")
    return json.loads(b64url_decode(payload))


def is_int(value):
    # bool is an int subclass, but true is no number of seconds.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class RefreshToken:
    value: str
    sub: str
    app_id: str
    chain: str
    expires: int
    state: str = ACTIVE

    def view(self):
        return {"state": self.state, "sub": self.sub, "app_id": self.app_id,
                "chain": self.chain, "expires": self.expires}


def parse_failure(value):
    """Check a FAILURE from /_control/config; return it as a dict."""
    if value is None:
        return None
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, dict):
        raise ControlError("fail must be an object, a mode name or null")
    unknown = set(value) - FAILURE_KEYS
    if unknown:
        raise ControlError(f"unknown fail keys: {sorted(unknown)}")
    failure = dict(value)
    if "mode" not in failure and "status" in failure:
        failure["mode"] = "status"
    mode = failure.get("mode")
    if mode not in FAIL_MODES:
        raise ControlError(f"unknown failure mode: {mode!r}")
    if mode == "status":
        status = failure.get("status")
        if not is_int(status) or not 100 <= status <= 599:
            raise ControlError("status must be an HTTP status code")
        failure.setdefault("code", ERROR_CODES.get(status, "test_failure"))
        failure.setdefault("error", f"injected failure (HTTP {status})")
    if mode == "slow":
        delay = failure.setdefault("delay", 2)
        number = is_int(delay) or isinstance(delay, float)
        if not number or not 0 <= delay <= MAX_DELAY:
            raise ControlError(f"delay must be 0 to {MAX_DELAY} seconds")
    return failure


def parse_config(changes):
    """Check a /_control/config request; return the settings to change."""
    if not isinstance(changes, dict):
        raise ControlError("config must be a JSON object")
    unknown = set(changes) - set(CONFIG_DEFAULTS)
    if unknown:
        raise ControlError(f"unknown config keys: {sorted(unknown)}")
    update = {}
    for key in ("auth_ttl", "refresh_ttl"):
        if key in changes:
            # Negative values are allowed: they issue expired tokens.
            if not is_int(changes[key]):
                raise ControlError(f"{key} must be an integer")
            update[key] = changes[key]
    if "omit_refresh_token" in changes:
        if not isinstance(changes["omit_refresh_token"], bool):
            raise ControlError("omit_refresh_token must be true or false")
        update["omit_refresh_token"] = changes["omit_refresh_token"]
    if "fail" in changes:
        update["fail"] = parse_failure(changes["fail"])
        update["fail_count"] = None     # until reset, unless counted
    if "fail_count" in changes:
        count = changes["fail_count"]
        if count is not None and (not is_int(count) or count < 0):
            raise ControlError("fail_count must be a count or null")
        update["fail_count"] = count
    if update.get("fail_count") == 0:
        update["fail"] = update["fail_count"] = None
    return update


class PassageState:
    """Tokens, configuration and request log, shared by all threads.

    Every method takes the lock for its whole work, so that two requests
    racing with one refresh token see a rotation happen exactly once.
    """

    def __init__(self, app_ids, log_file=None):
        self.app_ids = frozenset(app_ids)
        self.jwt_secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._tokens = {}
        self._log = []
        self._config = dict(CONFIG_DEFAULTS)
        self._log_file = open(log_file, "a") if log_file else None

    def close(self):
        with self._lock:    # a request may still be finishing
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def issue(self, sub=None, app_id=DEFAULT_APP_ID, refresh_ttl=None):
        """Start a new chain and return its first refresh token."""
        now = int(time.time())
        with self._lock:
            if refresh_ttl is None:
                refresh_ttl = self._config["refresh_ttl"]
            sub = sub or "user-" + secrets.token_hex(6)
            chain = "chain-" + secrets.token_hex(6)
            return self._new_token(sub, app_id, chain, now + refresh_ttl)

    def refresh(self, app_id, value):
        """Exchange a refresh token; return (reply, reuse detected)."""
        now = int(time.time())
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.app_id != app_id:
                return self._refused("unknown refresh token"), False
            if token.state == USED:
                # Rotation makes a used token worthless to its holder, so
                # someone else must hold a copy: end the whole session.
                self._revoke_chain(token.chain)
                return self._refused("refresh token reused"), True
            if token.state == REVOKED:
                return self._refused("refresh token revoked"), False
            if token.expires <= now:
                return self._refused("refresh token expired"), False
            return json_reply(200, self._exchange(token, now)), False

    def revoke(self, app_id, value):
        """Revoke the chain of a refresh token, if it is one of ours."""
        with self._lock:
            token = self._tokens.get(value)
            if token is not None and token.app_id == app_id:
                self._revoke_chain(token.chain)

    def take_failure(self):
        """Return the failure for this request, counting it, or None."""
        with self._lock:
            failure = self._config["fail"]
            count = self._config["fail_count"]
            if failure is not None and count is not None:
                count -= 1
                self._config["fail_count"] = count
                if count <= 0:
                    self._config["fail"] = self._config["fail_count"] = None
            return dict(failure) if failure else None

    def configure(self, changes):
        update = parse_config(changes)
        with self._lock:
            self._config.update(update)
            return dict(self._config)

    def config(self):
        with self._lock:
            return dict(self._config)

    def reset(self, everything=False):
        with self._lock:
            self._config = dict(CONFIG_DEFAULTS)
            if everything:
                self._tokens.clear()
                self._log.clear()

    def arrived(self, entry):
        """Log a request as it arrives; return its entry, unanswered."""
        with self._lock:
            entry = {"seq": len(self._log) + 1, **entry,
                     "status": None, "reuse": False}
            self._log.append(entry)
            return entry

    def answered(self, entry, status, reuse=False):
        """Complete an entry (and write it to the log file)."""
        with self._lock:
            entry.update(status=status, reuse=reuse)
            if self._log_file:
                self._log_file.write(json.dumps(entry) + "\n")
                self._log_file.flush()

    def log(self):
        with self._lock:
            return [dict(entry) for entry in self._log]

    def tokens(self):
        with self._lock:
            return {value: token.view()
                    for value, token in self._tokens.items()}

    # The helpers below expect the lock to be held.

    def _new_token(self, sub, app_id, chain, expires):
        value = "rt_" + secrets.token_urlsafe(24)
        token = RefreshToken(value, sub, app_id, chain, expires)
        self._tokens[value] = token
        return token

    def _exchange(self, token, now):
        claims = {
            "sub": token.sub,
            "exp": now + self._config["auth_ttl"],
            "iat": now,
            "iss": ISSUER,
            "aud": token.app_id,
            # Two tokens issued in one second must still differ.
            "jti": secrets.token_hex(8),
        }
        result = {"auth_token": make_jwt(self.jwt_secret, claims),
                  "redirect_url": "/"}
        if not self._config["omit_refresh_token"]:
            expires = now + self._config["refresh_ttl"]
            new = self._new_token(token.sub, token.app_id, token.chain,
                                  expires)
            token.state = USED
            result["refresh_token"] = new.value
            result["refresh_token_expiration"] = new.expires
        return {"auth_result": result}

    def _revoke_chain(self, chain):
        for token in self._tokens.values():
            if token.chain == chain:
                token.state = REVOKED

    @staticmethod
    def _refused(message):
        return error_reply(401, "invalid_refresh_token", message)


def parse_tokens_path(raw_path):
    """Return (app_id, decoded path); app_id is None for other paths.

    The path is split before it is decoded, so that an app id holding an
    encoded "/" stays one segment.
    """
    parts = raw_path.split("/")
    if (len(parts) == 5 and parts[:3] == ["", "v1", "apps"]
            and parts[3] and parts[4] == "tokens"):
        app_id = urllib.parse.unquote(parts[3])
        return app_id, f"/v1/apps/{app_id}/tokens"
    return None, urllib.parse.unquote(raw_path)


def query_token(query):
    values = urllib.parse.parse_qs(query).get("refresh_token")
    return values[0] if values else None


def body_token(body):
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if isinstance(request, dict) and isinstance(
            request.get("refresh_token"), str):
        return request["refresh_token"]
    return None


def is_json(content_type):
    media_type = (content_type or "").split(";")[0]
    return media_type.strip().lower() == "application/json"


def control_issue(state, request):
    sub = request.get("sub")
    app_id = request.get("app_id", DEFAULT_APP_ID)
    ttl = request.get("refresh_ttl")
    if sub is not None and (not isinstance(sub, str) or not sub):
        raise ControlError("sub must be a non-empty string")
    if app_id not in state.app_ids:
        return error_reply(404, "app_not_found", f"no app {app_id!r}")
    if ttl is not None and not is_int(ttl):
        raise ControlError("refresh_ttl must be an integer")
    token = state.issue(sub, app_id, ttl)
    return json_reply(200, {"refresh_token": token.value, **token.view()})


def control_config(state, request):
    return json_reply(200, {"config": state.configure(request)})


def control_show_config(state, request):
    return json_reply(200, {"config": state.config()})


def control_log(state, request):
    return json_reply(200, {"requests": state.log()})


def control_tokens(state, request):
    return json_reply(200, {"tokens": state.tokens()})


def control_reset(state, request):
    everything = request.get("all", False)
    if not isinstance(everything, bool):
        raise ControlError("all must be true or false")
    state.reset(everything)
    return json_reply(200, {})


CONTROL_ROUTES = {
    ("POST", "/_control/issue"): control_issue,
    ("POST", "/_control/config"): control_config,
    ("GET", "/_control/config"): control_show_config,
    ("GET", "/_control/log"): control_log,
    ("GET", "/_control/tokens"): control_tokens,
    ("POST", "/_control/reset"): control_reset,
}


class PassageHandler(BaseHTTPRequestHandler):
    """One connection: the Passage API, the control API, or a 404."""

    # HTTP/1.1 as libcurl speaks it, with keep-alive and 100-continue.
    protocol_version = "HTTP/1.1"
    server_version = "passage-test/1"
    timeout = 10    # seconds a connection may sit idle

    def setup(self):
        # The listening socket defers the TLS handshake to here, so a
        # stalled or failing client only holds up its own thread.
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format, *args):
        pass    # the request log replaces the access log

    def _handle_any(self):
        """Every method comes here; routing is by path."""
        body = self._read_body()
        if body is None:
            return
        path, _, query = self.path.partition("?")
        if path.startswith("/_control/"):
            self._send(self._control_reply(path, body))
        else:
            self._serve_api(path, query, body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle_any

    def _read_body(self):
        """Read the whole request body; None once an error is answered."""
        try:
            length = int(self.headers.get("Content-Length", 0))
        except ValueError:
            length = -1
        if "Transfer-Encoding" in self.headers:
            length = -1     # chunked bodies: libcurl sends none here
        if not 0 <= length <= MAX_REQUEST_BODY:
            reply = error_reply(
                400, "invalid_request",
                "a body needs a Content-Length of at most 1 MiB")
            # The body stays unread, so this connection cannot go on.
            reply.headers["Connection"] = "close"
            self._send(reply)
            return None
        return self.rfile.read(length)

    def _control_reply(self, path, body):
        route = CONTROL_ROUTES.get((self.command, path))
        if route is None:
            return error_reply(404, "not_found", "no such control call")
        try:
            request = json.loads(body) if body.strip() else {}
            if not isinstance(request, dict):
                raise ControlError("request must be a JSON object")
            return route(self.server.state, request)
        except (ValueError, ControlError) as error:
            return error_reply(400, "invalid_request", str(error))

    def _serve_api(self, raw_path, query, body):
        state = self.server.state
        app_id, path = parse_tokens_path(raw_path)
        if self.command == "POST":
            named_token = body_token(body)
        else:
            named_token = query_token(query)
        entry = state.arrived({
            "time": round(time.time(), 3),
            "method": self.command,
            "path": path,
            "raw_path": raw_path,
            "query": query,
            "app_id": app_id,
            "refresh_token": named_token,
            "content_type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
        })
        failure = None
        if app_id is not None and self.command in ("POST", "DELETE"):
            failure = state.take_failure()
        if failure and failure["mode"] == "slow":
            # Sleep outside the state lock; stop() cuts the wait short.
            self.server.stopping.wait(failure["delay"])
            failure = None
        reuse = False
        if failure:
            reply = self._failure_reply(failure)
        else:
            reply, reuse = self._api_reply(app_id, query, body)
        # Completed before answering, so a client that reads the log
        # right after its reply finds its request there, with its status.
        state.answered(entry, reply.status if reply else None, reuse)
        if reply is None:
            self.close_connection = True
        else:
            self._send(reply)

    def _api_reply(self, app_id, query, body):
        """Answer a Passage API request; return (reply, reuse)."""
        state = self.server.state
        if app_id is None:
            return error_reply(404, "not_found", "no such endpoint"), False
        if self.command not in ("POST", "DELETE"):
            return error_reply(405, "method_not_allowed",
                               "use POST or DELETE"), False
        if app_id not in state.app_ids:
            return error_reply(404, "app_not_found",
                               f"no app {app_id!r}"), False
        if self.command == "DELETE":
            token = query_token(query)
            if not token:
                return error_reply(400, "invalid_request",
                                   "refresh_token is required"), False
            state.revoke(app_id, token)
            return Reply(200), False
        if not is_json(self.headers.get("Content-Type")):
            return error_reply(400, "invalid_request",
                               "Content-Type must be application/json"), False
        token = body_token(body)
        if not token:
            return error_reply(400, "invalid_request",
                               "body needs a refresh_token string"), False
        return state.refresh(app_id, token)

    def _failure_reply(self, failure):
        """The reply of an injected failure; None drops the connection."""
        mode = failure["mode"]
        if mode == "status":
            return error_reply(failure["status"], failure["code"],
                               failure["error"])
        if mode == "bad_json":
            return Reply(200, b"not json{", "application/json")
        if mode == "missing_fields":
            return json_reply(200, {"auth_result": {}})
        if mode == "wrong_types":
            return json_reply(200, {"auth_result": {
                "auth_token": 12345, "redirect_url": 0,
                "refresh_token": 67890,
                "refresh_token_expiration": "tomorrow"}})
        if mode == "huge":
            return json_reply(200, {"auth_result": {
                "auth_token": "x" * HUGE_BODY}})
        if mode == "redirect":
            location = f"https://{self.server.netloc}/v1/elsewhere"
            return Reply(302, headers={"Location": location})
        return None     # "drop"

    def _send(self, reply):
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class HTTPSServer(ThreadingHTTPServer):
    """A threaded HTTPS server on one IPv4 or IPv6 address."""

    daemon_threads = True

    def __init__(self, address, context, state):
        self.address_family = (socket.AF_INET6 if ":" in address[0]
                                else socket.AF_INET)
        self.state = state
        self.stopping = threading.Event()
        super().__init__(address, PassageHandler)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False)

    @property
    def netloc(self):
        host, port = self.server_address[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def server_bind(self):
        # HTTPServer.server_bind would look the host name up (getfqdn);
        # a test server has no business asking any resolver anything.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        # Clients that reject our certificate or hang up early are part
        # of the tests; only real faults deserve a traceback.
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError,
                                          TimeoutError)):
            return
        super().handle_error(request, client_address)


class PassageServer:
    """A Passage-compatible HTTPS server, serving on a thread of its own.

    The socket is bound and listening once the object exists, so .port is
    known before start().
    """

    def __init__(self, cert, key, host="127.0.0.1", port=0, app_ids=(),
                 log_file=None):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.state = PassageState([DEFAULT_APP_ID, *app_ids], log_file)
        self._httpd = HTTPSServer((host, port), context, self.state)
        self._thread = None

    @property
    def host(self):
        return self._httpd.server_address[0]

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def base_url(self):
        return f"https://{self._httpd.netloc}"

    @property
    def url(self):
        """The API base, as the module's api_url= takes it."""
        return self.base_url + "/v1"

    @property
    def jwt_secret(self):
        return self.state.jwt_secret

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"passage-server-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self):
        self._httpd.stopping.set()
        if self._thread is not None:
            # shutdown() waits for serve_forever, so only once it runs.
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()
        self.state.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def write_port_file(path, port):
    """Write the port so that a reader never sees a half-written file."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as stream:
        stream.write(f"{port}\n")
    os.replace(temporary, path)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Passage-compatible HTTPS server for tests")
    parser.add_argument("--cert", required=True, help="server cert (PEM)")
    parser.add_argument("--key", required=True, help="server key (PEM)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="port, 0 for any free one (default)")
    parser.add_argument("--port-file",
                        help="where to write the port once listening")
    parser.add_argument("--app-id", action="append", default=[],
                        help=f"an app id besides {DEFAULT_APP_ID}")
    parser.add_argument("--log-file",
                        help="append each API request as a JSON line")
    parser.add_argument("--lifetime", type=float, default=3600,
                        help="exit after this many seconds (default 3600)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # Block the signals before any thread exists: the serving threads
    # inherit the mask, and the main thread alone waits for them.
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    server = PassageServer(args.cert, args.key, args.host, args.port,
                           args.app_id, args.log_file).start()
    try:
        if args.port_file:
            write_port_file(args.port_file, server.port)
        print(f"passage_server: serving {server.url}", file=sys.stderr)
        signal.sigtimedwait(signals, args.lifetime)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

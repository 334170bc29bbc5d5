"""pytest fixtures shared by pam_passage's tests."""

# ---------------------------------------------------------------------------
# Passage test server fixtures
#
#   certs            session: a test CA and server certificates (certs.Certs:
#                    .dir, .ca, .ca_key, .server_cert, .server_key,
#                    .wronghost_cert, .wronghost_key)
#   passage_server   a PassageServer on 127.0.0.1 with a random port, shared
#                    by the session and wiped (tokens, log, config) before
#                    each test; see ServerHandle for what it offers
#   wronghost_server the same, serving a certificate for wrong.example
#   make_passage_server
#                    a factory for servers of a test's own, e.g. with more
#                    app ids or on ::1; each is stopped after the test
# ---------------------------------------------------------------------------

import json
import ssl
import urllib.request

import pytest

from certs import make_certs
from passage_server import PassageServer, decode_jwt


class ServerHandle:
    """What a test sees of a running PassageServer.

    .url is the API base to give the module as api_url=, .ca_file its
    ca_file=.  The methods drive the server's control API (documented in
    passage_server.py) over HTTPS, as any outside program would.
    """

    def __init__(self, server, ca_file, check_hostname=True):
        self.server = server
        self.url = server.url
        self.base_url = server.base_url
        self.host = server.host
        self.port = server.port
        self.ca_file = str(ca_file)
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = check_hostname
        # An empty ProxyHandler: the environment's proxy variables must
        # never send a test request anywhere but to loopback.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=context))

    def control(self, method, call, body=None):
        """Make a control call such as ("GET", "log"); return its JSON.

        An error status raises urllib.error.HTTPError.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_control/{call}", data=data, method=method,
            headers={"Content-Type": "application/json"})
        with self._opener.open(request, timeout=10) as reply:
            return json.load(reply)

    def issue(self, sub=None, app_id=None, refresh_ttl=None):
        """Start a new chain: {"refresh_token", "sub", "chain", ...}."""
        body = {key: value for key, value in
                (("sub", sub), ("app_id", app_id),
                 ("refresh_ttl", refresh_ttl)) if value is not None}
        return self.control("POST", "issue", body)

    def configure(self, **settings):
        """Change settings, e.g. configure(fail="drop", fail_count=1)."""
        return self.control("POST", "config", settings)["config"]

    def log(self):
        """Every Passage API request so far, oldest first."""
        return self.control("GET", "log")["requests"]

    def tokens(self):
        """{refresh token: {"state", "sub", "app_id", "chain", ...}}."""
        return self.control("GET", "tokens")["tokens"]

    def reset(self, all=False):
        """Clear settings and failures; with all, tokens and log too."""
        self.control("POST", "reset", {"all": all})

    def claims(self, auth_token):
        """The claims of an auth token this server signed."""
        return decode_jwt(auth_token, self.server.jwt_secret)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def _serve(cert, key, **options):
    server = PassageServer(cert, key, **options)
    return server.start()


@pytest.fixture(scope="session")
def _passage_server_session(certs):
    server = _serve(certs.server_cert, certs.server_key)
    yield ServerHandle(server, certs.ca)
    server.stop()


@pytest.fixture(scope="session")
def _wronghost_server_session(certs):
    server = _serve(certs.wronghost_cert, certs.wronghost_key)
    # The control client must still reach it: it checks the chain only.
    yield ServerHandle(server, certs.ca, check_hostname=False)
    server.stop()


@pytest.fixture
def passage_server(_passage_server_session):
    _passage_server_session.reset(all=True)
    return _passage_server_session


@pytest.fixture
def wronghost_server(_wronghost_server_session):
    _wronghost_server_session.reset(all=True)
    return _wronghost_server_session


@pytest.fixture
def make_passage_server(certs):
    """make_passage_server(app_ids=(), host="127.0.0.1") -> ServerHandle."""
    servers = []

    def make(app_ids=(), host="127.0.0.1"):
        server = _serve(certs.server_cert, certs.server_key,
                        host=host, app_ids=app_ids)
        servers.append(server)
        return ServerHandle(server, certs.ca)

    yield make
    for server in servers:
        server.stop()

# ---------------------------------------------------------------------------
# End of the Passage test server fixtures
# ---------------------------------------------------------------------------

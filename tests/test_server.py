"""Tests of the Passage-compatible test server itself.

The Passage API is called with http.client, as a raw client would: no
redirects followed, headers exactly as written here.
"""

import base64
import hashlib
import hmac
import http.client
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).with_name("passage_server.py")
JSON = "application/json"


class Answer:
    def __init__(self, response):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self):
        return json.loads(self.body)


def call(server, method, path, body=None, headers=None):
    """Send one request to server (a ServerHandle); return an Answer."""
    context = ssl.create_default_context(cafile=server.ca_file)
    connection = http.client.HTTPSConnection(
        server.host, server.port, context=context, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Answer(connection.getresponse())
    finally:
        connection.close()


def tokens_path(app_id="test-app"):
    return f"/v1/apps/{urllib.parse.quote(app_id, safe='')}/tokens"


def refresh(server, token, app_id="test-app", content_type=JSON):
    body = json.dumps({"refresh_token": token})
    return call(server, "POST", tokens_path(app_id), body,
                {"Content-Type": content_type, "Accept": JSON})


def revoke(server, token, app_id="test-app"):
    query = urllib.parse.urlencode({"refresh_token": token})
    return call(server, "DELETE", f"{tokens_path(app_id)}?{query}",
                headers={"Accept": JSON})


def jwt_parts(token):
    """Decode a JWT by hand, independently of the server's code."""
    def decode(part):
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    header, payload, signature = token.split(".")
    return json.loads(decode(header)), json.loads(decode(payload)), \
        decode(signature)


# Refresh and rotation


def test_refresh_returns_signed_jwt_with_sub_and_exp(passage_server):
    issued = passage_server.issue(sub="user-123")
    before = int(time.time())
    answer = refresh(passage_server, issued["refresh_token"])
    assert answer.status == 200
    assert answer.headers["Content-Type"] == JSON
    result = answer.json()["auth_result"]
    header, claims, signature = jwt_parts(result["auth_token"])
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["sub"] == "user-123"
    assert claims["aud"] == "test-app"
    assert claims["iss"] == "passage-test"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 300
    signing_input = result["auth_token"].rsplit(".", 1)[0].encode()
    expected = hmac.new(passage_server.server.jwt_secret, signing_input,
                        hashlib.sha256).digest()
    assert signature == expected
    assert "=" not in result["auth_token"]
    assert result["redirect_url"] == "/"
    assert result["refresh_token"].startswith("rt_")
    assert result["refresh_token"] != issued["refresh_token"]
    assert result["refresh_token_expiration"] >= before + 86400


def test_issue_generates_sub_when_none_given(passage_server):
    first, second = passage_server.issue(), passage_server.issue()
    assert first["sub"] and second["sub"] and first["sub"] != second["sub"]
    assert first["chain"] != second["chain"]
    assert first["refresh_token"] != second["refresh_token"]


def test_auth_tokens_differ_within_one_second(passage_server):
    token = passage_server.issue(sub="same")["refresh_token"]
    auth_tokens = set()
    for _ in range(5):
        result = refresh(passage_server, token).json()["auth_result"]
        auth_tokens.add(result["auth_token"])
        token = result["refresh_token"]
    assert len(auth_tokens) == 5


def test_rotation_refuses_the_old_token(passage_server):
    old = passage_server.issue()["refresh_token"]
    new = refresh(passage_server, old).json()["auth_result"]["refresh_token"]
    tokens = passage_server.tokens()
    assert tokens[old]["state"] == "used"
    assert tokens[new]["state"] == "active"
    assert tokens[new]["chain"] == tokens[old]["chain"]
    newer = refresh(passage_server, new).json()["auth_result"]
    assert newer["refresh_token"] not in (old, new)


def test_reusing_a_rotated_token_revokes_the_whole_chain(passage_server):
    old = passage_server.issue()["refresh_token"]
    other = passage_server.issue()["refresh_token"]
    new = refresh(passage_server, old).json()["auth_result"]["refresh_token"]

    answer = refresh(passage_server, old)
    assert answer.status == 401
    assert answer.json()["code"] == "invalid_refresh_token"
    assert passage_server.log()[-1]["reuse"] is True

    tokens = passage_server.tokens()
    assert tokens[old]["state"] == tokens[new]["state"] == "revoked"
    assert tokens[other]["state"] == "active"
    answer = refresh(passage_server, new)
    assert answer.status == 401
    assert passage_server.log()[-1]["reuse"] is False


def test_unknown_token_is_refused(passage_server):
    answer = refresh(passage_server, "rt_never_issued")
    assert answer.status == 401
    assert answer.json()["code"] == "invalid_refresh_token"


def test_expired_token_is_refused(passage_server):
    token = passage_server.issue(refresh_ttl=0)["refresh_token"]
    answer = refresh(passage_server, token)
    assert answer.status == 401
    assert answer.json()["code"] == "invalid_refresh_token"


def test_token_of_another_app_is_refused(make_passage_server):
    server = make_passage_server(app_ids=["other-app"])
    token = server.issue(app_id="test-app")["refresh_token"]
    assert refresh(server, token, app_id="other-app").status == 401
    assert refresh(server, token, app_id="test-app").status == 200


def test_auth_and_refresh_ttl_are_configurable(passage_server):
    passage_server.configure(auth_ttl=2, refresh_ttl=60)
    token = passage_server.issue()["refresh_token"]
    result = refresh(passage_server, token).json()["auth_result"]
    claims = passage_server.claims(result["auth_token"])
    assert claims["exp"] - claims["iat"] == 2
    assert result["refresh_token_expiration"] - claims["iat"] == 60


def test_without_rotation_the_token_stays_valid(passage_server):
    passage_server.configure(omit_refresh_token=True)
    token = passage_server.issue()["refresh_token"]
    for _ in range(2):
        answer = refresh(passage_server, token)
        assert answer.status == 200
        result = answer.json()["auth_result"]
        assert "refresh_token" not in result
        assert "refresh_token_expiration" not in result
        assert result["auth_token"].count(".") == 2
    assert passage_server.tokens()[token]["state"] == "active"


# Revocation


def test_revoke_ends_the_chain(passage_server):
    old = passage_server.issue()["refresh_token"]
    new = refresh(passage_server, old).json()["auth_result"]["refresh_token"]
    answer = revoke(passage_server, new)
    assert answer.status == 200
    assert answer.body == b""
    tokens = passage_server.tokens()
    assert tokens[old]["state"] == tokens[new]["state"] == "revoked"
    assert refresh(passage_server, new).status == 401
    entry = passage_server.log()[-2]
    assert entry["method"] == "DELETE"
    assert entry["refresh_token"] == new
    assert entry["status"] == 200


def test_revoke_of_unknown_token_succeeds(passage_server):
    answer = revoke(passage_server, "rt_never_issued")
    assert answer.status == 200
    assert passage_server.log()[-1]["refresh_token"] == "rt_never_issued"


def test_revoke_without_token_is_invalid(passage_server):
    answer = call(passage_server, "DELETE", tokens_path())
    assert answer.status == 400
    assert answer.json()["code"] == "invalid_request"


# Requests the API refuses


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_unknown_app_is_404(passage_server, method):
    token = passage_server.issue()["refresh_token"]
    if method == "POST":
        answer = refresh(passage_server, token, app_id="no-such-app")
    else:
        answer = revoke(passage_server, token, app_id="no-such-app")
    assert answer.status == 404
    assert answer.json()["code"] == "app_not_found"
    assert passage_server.tokens()[token]["state"] == "active"


def test_percent_encoded_app_id_is_decoded(make_passage_server):
    app_id = "my app/1"
    server = make_passage_server(app_ids=[app_id])
    token = server.issue(app_id=app_id)["refresh_token"]
    answer = refresh(server, token, app_id=app_id)
    assert answer.status == 200
    claims = server.claims(answer.json()["auth_result"]["auth_token"])
    assert claims["aud"] == app_id
    entry = server.log()[-1]
    assert entry["app_id"] == app_id
    assert entry["path"] == f"/v1/apps/{app_id}/tokens"
    assert entry["raw_path"] == "/v1/apps/my%20app%2F1/tokens"


def test_wrong_content_type_is_400(passage_server):
    token = passage_server.issue()["refresh_token"]
    answer = refresh(passage_server, token, content_type="text/plain")
    assert answer.status == 400
    assert answer.json()["code"] == "invalid_request"
    assert passage_server.tokens()[token]["state"] == "active"


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}",
                                  b'{"refresh_token": 5}'])
def test_malformed_refresh_body_is_400(passage_server, body):
    answer = call(passage_server, "POST", tokens_path(), body,
                  {"Content-Type": JSON})
    assert answer.status == 400
    assert answer.json()["code"] == "invalid_request"


@pytest.mark.parametrize("headers", [
    {"Content-Length": str(2 << 20)},
    {"Transfer-Encoding": "chunked"},
])
def test_body_without_sane_length_is_refused(passage_server, headers):
    answer = call(passage_server, "POST", tokens_path(), None,
                  {"Content-Type": JSON, **headers})
    assert answer.status == 400
    assert answer.headers["Connection"] == "close"
    assert passage_server.log() == []


def test_other_paths_are_404(passage_server):
    assert call(passage_server, "GET", "/v1/elsewhere").status == 404
    assert call(passage_server, "POST", "/v2/apps/test-app/tokens",
                b"{}", {"Content-Type": JSON}).status == 404
    assert call(passage_server, "GET", "/_control/nothing").status == 404
    assert call(passage_server, "GET", tokens_path()).status == 405


# Injected failures


def test_failure_status(passage_server):
    token = passage_server.issue()["refresh_token"]
    passage_server.configure(fail={"mode": "status", "status": 503},
                             fail_count=1)
    answer = refresh(passage_server, token)
    assert answer.status == 503
    assert answer.json() == {"code": "test_failure",
                             "error": "injected failure (HTTP 503)"}
    # The failure was counted, and the token was never looked at.
    assert refresh(passage_server, token).status == 200


def test_failure_status_with_own_code(passage_server):
    passage_server.configure(fail={"status": 403, "code": "user_not_active",
                                   "error": "inactive"})
    token = passage_server.issue()["refresh_token"]
    for _ in range(3):     # no fail_count: until reset
        answer = refresh(passage_server, token)
        assert answer.status == 403
        assert answer.json() == {"code": "user_not_active",
                                 "error": "inactive"}
    passage_server.reset()
    assert refresh(passage_server, token).status == 200


def test_failure_applies_to_revoke_too(passage_server):
    token = passage_server.issue()["refresh_token"]
    passage_server.configure(fail={"status": 500}, fail_count=1)
    answer = revoke(passage_server, token)
    assert answer.status == 500
    assert answer.json()["code"] == "internal_server_error"
    assert passage_server.tokens()[token]["state"] == "active"


def test_failure_bad_json(passage_server):
    passage_server.configure(fail="bad_json", fail_count=1)
    answer = refresh(passage_server, passage_server.issue()["refresh_token"])
    assert answer.status == 200
    assert answer.body == b"not json{"


def test_failure_missing_fields(passage_server):
    passage_server.configure(fail="missing_fields", fail_count=1)
    answer = refresh(passage_server, passage_server.issue()["refresh_token"])
    assert answer.status == 200
    assert answer.json() == {"auth_result": {}}


def test_failure_wrong_types(passage_server):
    passage_server.configure(fail="wrong_types", fail_count=1)
    answer = refresh(passage_server, passage_server.issue()["refresh_token"])
    assert answer.status == 200
    result = answer.json()["auth_result"]
    assert isinstance(result["auth_token"], int)
    assert not isinstance(result["refresh_token"], str)
    assert not isinstance(result["refresh_token_expiration"], int)


def test_failure_huge(passage_server):
    passage_server.configure(fail="huge", fail_count=1)
    answer = refresh(passage_server, passage_server.issue()["refresh_token"])
    assert answer.status == 200
    assert len(answer.body) > 1 << 20
    assert int(answer.headers["Content-Length"]) == len(answer.body)


def test_failure_slow_does_not_block_others(passage_server):
    token = passage_server.issue()["refresh_token"]
    passage_server.configure(fail={"mode": "slow", "delay": 1.5},
                             fail_count=1)
    answers = []
    slow = threading.Thread(
        target=lambda: answers.append(refresh(passage_server, token)))
    started = time.monotonic()
    slow.start()
    time.sleep(0.2)
    assert passage_server.tokens()[token]["state"] == "active"
    # Logged on arrival, not answered yet.
    assert passage_server.log()[-1]["status"] is None
    assert time.monotonic() - started < 1.0    # answered meanwhile
    slow.join(timeout=10)
    assert time.monotonic() - started >= 1.5
    # A slow server still does its work: the token rotated.
    assert answers[0].status == 200
    assert passage_server.tokens()[token]["state"] == "used"
    assert passage_server.log()[-1]["status"] == 200


def test_failure_drop(passage_server):
    token = passage_server.issue()["refresh_token"]
    passage_server.configure(fail="drop", fail_count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError,
                        ssl.SSLError)):
        refresh(passage_server, token)
    entry = passage_server.log()[-1]
    assert entry["status"] is None
    assert entry["refresh_token"] == token
    assert passage_server.tokens()[token]["state"] == "active"


def test_failure_redirect(passage_server):
    passage_server.configure(fail="redirect", fail_count=1)
    answer = refresh(passage_server, passage_server.issue()["refresh_token"])
    assert answer.status == 302
    assert answer.headers["Location"] == \
        f"https://127.0.0.1:{passage_server.port}/v1/elsewhere"
    # Were a client to follow it, the log would show it.
    assert call(passage_server, "POST", "/v1/elsewhere", b"{}",
                {"Content-Type": JSON}).status == 404
    assert passage_server.log()[-1]["path"] == "/v1/elsewhere"


def test_fail_count_counts_requests(passage_server):
    token = passage_server.issue()["refresh_token"]
    config = passage_server.configure(fail="bad_json", fail_count=2)
    assert config["fail"] == {"mode": "bad_json"}
    assert config["fail_count"] == 2
    assert refresh(passage_server, token).body == b"not json{"
    assert refresh(passage_server, token).body == b"not json{"
    assert refresh(passage_server, token).status == 200
    assert passage_server.configure()["fail"] is None


def test_fail_count_zero_clears_the_failure(passage_server):
    passage_server.configure(fail="drop")
    config = passage_server.configure(fail_count=0)
    assert config["fail"] is None
    token = passage_server.issue()["refresh_token"]
    assert refresh(passage_server, token).status == 200


@pytest.mark.parametrize("settings", [
    {"no_such_key": 1},
    {"auth_ttl": "300"},
    {"omit_refresh_token": 1},
    {"fail": "explode"},
    {"fail": {"mode": "status", "status": 99}},
    {"fail": {"mode": "slow", "delay": -1}},
    {"fail": {"mode": "drop", "typo": 1}},
    {"fail_count": -1},
])
def test_bad_config_is_refused(passage_server, settings):
    answer = call(passage_server, "POST", "/_control/config",
                  json.dumps(settings), {"Content-Type": JSON})
    assert answer.status == 400
    assert answer.json()["code"] == "invalid_request"
    assert passage_server.configure() == {
        "auth_ttl": 300, "refresh_ttl": 86400, "omit_refresh_token": False,
        "fail": None, "fail_count": None}


# The log and the control API


def test_log_records_each_api_request_in_order(passage_server):
    token = passage_server.issue(sub="user-log")["refresh_token"]
    assert passage_server.log() == []
    refresh(passage_server, token, content_type="application/json; a=b")
    revoke(passage_server, "rt_other")
    passage_server.tokens()      # control calls are not logged
    log = passage_server.log()
    assert [entry["seq"] for entry in log] == [1, 2]
    first, second = log
    assert first["method"] == "POST"
    assert first["path"] == "/v1/apps/test-app/tokens"
    assert first["query"] == ""
    assert first["app_id"] == "test-app"
    assert first["refresh_token"] == token
    assert first["status"] == 200
    assert first["reuse"] is False
    assert first["content_type"] == "application/json; a=b"
    assert first["accept"] == JSON
    assert abs(first["time"] - time.time()) < 10
    assert second["method"] == "DELETE"
    assert second["query"] == "refresh_token=rt_other"
    assert second["refresh_token"] == "rt_other"
    assert second["content_type"] is None
    assert second["time"] >= first["time"]


def test_reset_keeps_tokens_and_log_unless_all(passage_server):
    token = passage_server.issue()["refresh_token"]
    passage_server.configure(auth_ttl=5, fail="drop")
    passage_server.reset()
    assert passage_server.configure()["auth_ttl"] == 300
    answer = refresh(passage_server, token)
    assert answer.status == 200
    assert len(passage_server.log()) == 1
    assert len(passage_server.tokens()) == 2
    passage_server.reset(all=True)
    assert passage_server.log() == []
    assert passage_server.tokens() == {}


# TLS


def test_server_certificate_fits_the_loopback_address(passage_server):
    answer = call(passage_server, "GET", "/_control/log")
    assert answer.status == 200


def test_wronghost_certificate_is_rejected(wronghost_server):
    with pytest.raises(ssl.SSLCertVerificationError):
        call(wronghost_server, "GET", "/_control/log")
    # The same CA signed it: only the host name is wrong.
    context = ssl.create_default_context(cafile=wronghost_server.ca_file)
    address = (wronghost_server.host, wronghost_server.port)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="wrong.example") as tls:
            assert tls.getpeercert()["subjectAltName"] == (
                ("DNS", "wrong.example"),)
    assert wronghost_server.log() == []


def test_ipv6_loopback(make_passage_server):
    try:
        server = make_passage_server(host="::1")
    except OSError as error:
        pytest.skip(f"no IPv6 loopback: {error}")
    assert server.url == f"https://[::1]:{server.port}/v1"
    token = server.issue()["refresh_token"]
    assert refresh(server, token).status == 200


# The command line


def test_command_line_serves_until_sigterm(certs, tmp_path):
    port_file = tmp_path / "port"
    log_file = tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--cert", str(certs.server_cert),
         "--key", str(certs.server_key), "--port", "0",
         "--port-file", str(port_file), "--app-id", "cli-app",
         "--log-file", str(log_file), "--lifetime", "60"],
        stderr=subprocess.PIPE)
    try:
        port = _wait_for_port(port_file, process)
        handle = _Address("127.0.0.1", port, certs.ca)
        issued = json.loads(call(handle, "POST", "/_control/issue",
                                 '{"app_id": "cli-app"}').body)
        answer = refresh(handle, issued["refresh_token"], app_id="cli-app")
        assert answer.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["app_id"] == "cli-app"
    assert entry["refresh_token"] == issued["refresh_token"]
    assert entry["status"] == 200


class _Address:
    """Just enough of a ServerHandle for call()."""

    def __init__(self, host, port, ca_file):
        self.host, self.port, self.ca_file = host, port, str(ca_file)


def _wait_for_port(port_file, process, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    raise AssertionError("the server wrote no port file")

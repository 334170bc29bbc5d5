"""pam_passage through real libpam: one PAM transaction per pam-driver run.

Each test has its own store, configuration file and pam.d service (see
pamtest.py), a local test user, and the Passage test server.  What the
server received, issued and logged is the reference: the expected tokens
always come from the server, never from the module.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pamtest import (  # noqa: F401  (some names are fixtures)
    COMMAND_TIMEOUT, DRIVER_TIMEOUT, KEYCTL, MODULE, clean_environment,
    home_pam, home_user, keyctl_step, meeting, pam, run_driver, test_user)
from syslog_capture import syslog_lines  # noqa: F401  (a fixture)

SUCCESS = "PAM_SUCCESS"
FULL_LOGIN = ("auth", "open", "close")

AUTH_KEY = "passage:auth_token"
REFRESH_KEY = "passage:refresh_token"
READ_AUTH = keyctl_step("print", f"%user:{AUTH_KEY}")
READ_REFRESH = keyctl_step("print", f"%user:{REFRESH_KEY}")
DESCRIBE_AUTH = keyctl_step("rdescribe", f"%user:{AUTH_KEY}")
DESCRIBE_REFRESH = keyctl_step("rdescribe", f"%user:{REFRESH_KEY}")
FIND_AUTH = keyctl_step("search", "@s", "user", AUTH_KEY)
READ_PROC_KEYS = "run:/bin/cat /proc/keys"
# The signal mask and ignored signals survive fork and exec: the run: step
# shows the driver's own.
SIGNAL_STATE = "run:/bin/grep -E '^Sig(Blk|Ign):' /proc/self/status"
# The driver is the shell's parent: its threads, and its children (the
# shell alone, whose pid comes first).
DRIVER_TASKS = ("run:echo $$; /bin/ls /proc/$PPID/task | /usr/bin/wc -l;"
                " /bin/cat /proc/$PPID/task/*/children; echo")

LOG_AUTHPRIV = 10


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections.

    The socket is bound but never listens, so nobody else can take the
    port while the test runs and every connection attempt is refused.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# ---------------------------------------------------------------------------
# What the server saw and issued
# ---------------------------------------------------------------------------

def api_calls(server):
    """[(method, refresh token, status)] of the Passage API requests."""
    return [(entry["method"], entry["refresh_token"], entry["status"])
            for entry in server.log()]


def chain_of(server, issued):
    """The refresh tokens of issued's chain, oldest first.

    The server lists tokens in the order it made them.
    """
    chain = [token for token, info in server.tokens().items()
             if info["chain"] == issued["chain"]]
    assert chain[0] == issued["refresh_token"]
    return chain


def successor(server, issued):
    """The refresh token the server gave in exchange for issued's."""
    chain = chain_of(server, issued)
    assert len(chain) == 2, f"expected one rotation, chain is {chain}"
    return chain[1]


def assert_issued_auth_token(server, token, issued):
    """token is a JWT this server signed for issued's Passage user."""
    claims = server.claims(token)      # raises unless our server signed it
    assert claims["sub"] == issued["sub"]
    assert claims["aud"] == "test-app"
    return claims


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:8]


# ---------------------------------------------------------------------------
# What the session keyring holds, as seen by the user
# ---------------------------------------------------------------------------

def single_output_line(run, index):
    status, lines = run.run_output(index)
    assert status == 0, f"run step #{index} failed:\n{run}"
    assert len(lines) == 1, f"run step #{index} printed {lines}"
    return lines[0]


def described(run, index):
    """keyctl rdescribe's "type;uid;gid;perm;description", split."""
    ktype, uid, gid, perm, name = single_output_line(run, index).split(";")
    return ktype, int(uid), int(gid), int(perm, 16), name


def proc_keys(lines):
    """{description: (timeout, perm, uid, gid)} from /proc/keys lines."""
    keys = {}
    for line in lines:
        fields = line.split(None, 8)
        if len(fields) == 9:
            timeout, perm, uid, gid, rest = (fields[3], fields[4],
                                             fields[5], fields[6],
                                             fields[8])
            # "passage:auth_token: 312": the payload length comes last.
            name = rest.rsplit(": ", 1)[0]
            keys[name] = (timeout, int(perm, 16), int(uid), int(gid))
    return keys


PROC_KEYS_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def timeout_bounds(shown):
    """/proc/keys shows whole units, rounded down: "33m" is [1980, 2040)."""
    assert shown[-1] in PROC_KEYS_UNITS, f"no timeout on the key: {shown}"
    unit = PROC_KEYS_UNITS[shown[-1]]
    count = int(shown[:-1])
    return count * unit, (count + 1) * unit


def assert_timeout_matches(shown, expires, before, after):
    """The key expires at `expires`, as read between before and after.

    One second of slack either way: the module and the kernel each count
    whole seconds, at slightly different moments.
    """
    low, high = timeout_bounds(shown)
    most_left = expires - int(before) + 1
    least_left = expires - after - 1
    assert low <= most_left and high > least_left, (
        f"timeout shown {shown} does not fit an expiry "
        f"{least_left:.0f}..{most_left:.0f}s ahead")


# ---------------------------------------------------------------------------
# The module as a shared object
# ---------------------------------------------------------------------------

def test_module_exports_only_pam_entry_points():
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    if not MODULE.exists():
        pytest.skip("not built (run make)")
    listing = subprocess.run([nm, "-D", "--defined-only", str(MODULE)],
                             capture_output=True, text=True, check=True,
                             timeout=COMMAND_TIMEOUT).stdout
    # "A" entries would be version nodes, which are no symbols of code.
    names = {line.split()[-1] for line in listing.splitlines()
             if line.split() and line.split()[-2] != "A"}
    assert names == {"pam_sm_authenticate", "pam_sm_setcred",
                     "pam_sm_acct_mgmt", "pam_sm_open_session",
                     "pam_sm_close_session"}


# ---------------------------------------------------------------------------
# A whole login
# ---------------------------------------------------------------------------

def test_login_exchanges_deposited_token_once_and_revokes_rotated_one(
        pam, passage_server):
    issued = pam.deposit_new()

    run = pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    rotated = successor(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200),
        ("DELETE", rotated, 200),
    ]
    assert passage_server.tokens()[rotated]["state"] == "revoked"
    assert pam.entry() is None


def test_session_keys_hold_the_tokens_the_server_issued(pam,
                                                        passage_server):
    issued = pam.deposit_new()

    run = pam.login("auth", "open", READ_AUTH, READ_REFRESH, "close")

    assert run.code("open") == SUCCESS, run
    auth = single_output_line(run, 0)
    assert_issued_auth_token(passage_server, auth, issued)
    assert single_output_line(run, 1) == successor(passage_server, issued)


def test_session_keys_belong_to_user_with_no_rights_for_others(
        pam, test_user):
    pam.deposit_new()

    run = pam.login("auth", "open", DESCRIBE_AUTH, DESCRIBE_REFRESH,
                    READ_PROC_KEYS, "close")

    assert run.code("open") == SUCCESS, run
    for index, name in ((0, AUTH_KEY), (1, REFRESH_KEY)):
        ktype, uid, gid, perm, description = described(run, index)
        assert (ktype, description) == ("user", name)
        assert (uid, gid) == (test_user.uid, test_user.gid)
        assert perm & 0xffff == 0, f"{name}: group/other rights {perm:08x}"
        # Read and write for the possessor and for the owning user.
        assert (perm >> 24) & 0x06 == 0x06, f"{name}: perm {perm:08x}"
        assert (perm >> 16) & 0x06 == 0x06, f"{name}: perm {perm:08x}"
    keys = proc_keys(run.run_output(2)[1])
    for name in (AUTH_KEY, REFRESH_KEY):
        _, perm, uid, _ = keys[name]
        assert uid == test_user.uid and perm & 0xffff == 0


def test_session_key_timeouts_follow_token_expiry(pam, passage_server):
    # Lifetimes unlike any default, in different /proc/keys units.
    passage_server.configure(auth_ttl=2000, refresh_ttl=30000)
    issued = pam.deposit_new()

    before = time.time()
    run = pam.login("auth", "open", READ_AUTH, READ_PROC_KEYS, "close")
    after = time.time()

    assert run.code("open") == SUCCESS, run
    claims = assert_issued_auth_token(
        passage_server, single_output_line(run, 0), issued)
    keys = proc_keys(run.run_output(1)[1])
    assert_timeout_matches(keys[AUTH_KEY][0], claims["exp"], before, after)
    refresh_expires = passage_server.tokens()[
        successor(passage_server, issued)]["expires"]
    assert_timeout_matches(keys[REFRESH_KEY][0], refresh_expires, before,
                           after)


def test_forked_authentication_login_succeeds(pam, passage_server):
    """sshd authenticates in a child; only the PAM env comes back."""
    issued = pam.deposit_new()
    steps = ("auth-fork", "setcred", "open", READ_AUTH, "close",
             "setcred-delete")

    run = pam.login(*steps)

    assert run.codes() == [(step, SUCCESS) for step in steps
                           if not step.startswith("run:")], run
    assert_issued_auth_token(passage_server, single_output_line(run, 0),
                             issued)
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200),
        ("DELETE", successor(passage_server, issued), 200),
    ]


def test_handoff_reference_leaves_the_environment_at_open(pam,
                                                          passage_server):
    issued = pam.deposit_new()

    run = pam.login("auth-fork", "env", "open", "env", "run:/usr/bin/env",
                    "close")

    assert run.code("open") == SUCCESS, run
    # It was there, or this test would prove nothing.
    assert "PAM_PASSAGE_HANDOFF" in run.env(0)
    assert "PAM_PASSAGE_HANDOFF" not in run.env(1)
    status, user_env = run.run_output(0)
    assert status == 0
    assert not [line for line in user_env
                if line.startswith("PAM_PASSAGE_HANDOFF=")]
    tokens = chain_of(passage_server, issued)
    assert not [line for line in user_env
                if any(token in line for token in tokens)]


def test_authentication_without_session_leaves_new_token_leased(
        pam, passage_server):
    issued = pam.deposit_new()

    before = time.time()
    run = pam.login("auth")        # and pam_end: the session never opens

    assert run.code("auth") == SUCCESS, run
    token_line, lease_line = pam.entry().splitlines()
    assert token_line == successor(passage_server, issued)
    word, lease_id, until = lease_line.split()
    assert word == "lease" and lease_id
    assert int(until) > before
    assert [call[0] for call in api_calls(passage_server)] == ["POST"]


def test_second_authentication_in_one_transaction_continues_chain(
        pam, passage_server):
    """An application may retry pam_authenticate in one transaction: the
    retry carries on with the first attempt's tokens, exchanging nothing."""
    issued = pam.deposit_new()

    run = pam.login("auth", "auth", "open", READ_REFRESH, "close")

    assert run.codes() == [("auth", SUCCESS), ("auth", SUCCESS),
                           ("open", SUCCESS), ("close", SUCCESS)], run
    first, second = chain_of(passage_server, issued)
    assert single_output_line(run, 0) == second
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("DELETE", second, 200)]
    assert pam.entry() is None


@pytest.mark.parametrize("steps", [("auth-fork",), ("auth",)],
                         ids=["sshd-like", "one-process"])
def test_login_works_in_a_private_session_keyring(pam, passage_server,
                                                  steps):
    """systemd starts services with a session keyring of their own that
    does not link root's user keyring (KeyringMode=private)."""
    issued = pam.deposit_new()

    run = pam.login(*steps, "open", READ_REFRESH, "close",
                    wrapper=[KEYCTL, "session", "-"])

    assert run.codes() == [(steps[0], SUCCESS), ("open", SUCCESS),
                           ("close", SUCCESS)], run
    first, second = chain_of(passage_server, issued)
    assert single_output_line(run, 0) == second
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("DELETE", second, 200)]


def test_abandoned_handoff_is_root_only_and_expires_soon(pam):
    pam.deposit_new()

    run = pam.login("auth", "env")

    assert run.code("auth") == SUCCESS, run
    reference = run.env()["PAM_PASSAGE_HANDOFF"]
    with open("/proc/keys") as keys:
        found = [line.split() for line in keys if reference in line]
    assert len(found) == 1, f"no key for handoff {reference}"
    serial, timeout, perm, uid = (found[0][0], found[0][3],
                                  int(found[0][4], 16), int(found[0][5]))
    try:
        assert uid == 0 and perm & 0xffff == 0, found
        # An abandoned handoff must vanish within a couple of minutes.
        assert timeout_bounds(timeout)[0] <= 180, found
    finally:
        subprocess.run([KEYCTL, "invalidate", str(int(serial, 16))],
                       capture_output=True, timeout=COMMAND_TIMEOUT)


def test_next_login_takes_over_unclaimed_handoff_without_request(
        pam, passage_server):
    """sshd retries a failed attempt in a new child that never sees the
    first attempt's environment: the retry must not be locked out."""
    issued = pam.deposit_new()
    assert pam.login("auth").code("auth") == SUCCESS

    run = pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    first, second = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("DELETE", second, 200)]
    assert pam.entry() is None


def test_login_waits_while_a_session_claims_the_token(pam, passage_server):
    issued = pam.deposit_new()
    run = pam.login("auth", "env")
    assert run.code("auth") == SUCCESS, run
    leased = pam.entry()
    # A session claims the handoff before it takes the store's lock.
    reference = run.env()["PAM_PASSAGE_HANDOFF"]
    with open("/proc/keys") as keys:
        serials = [line.split()[0] for line in keys if reference in line]
    assert len(serials) == 1, serials
    subprocess.run([KEYCTL, "invalidate", str(int(serials[0], 16))],
                   capture_output=True, timeout=COMMAND_TIMEOUT, check=True)

    run = pam.login(*FULL_LOGIN)

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200)]
    assert pam.entry() == leased


def test_expired_lease_lets_next_login_use_token(pam, passage_server):
    issued = pam.deposit_new()
    assert pam.login("auth").code("auth") == SUCCESS
    token_line, lease_line = pam.entry().splitlines()
    # As if the handoff's two minutes had passed: the lease ends in 1970.
    word, lease_id, _ = lease_line.split()
    pam.write_entry(f"{token_line}\n{word} {lease_id} 1\n")

    run = pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    first, second, third = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200), ("DELETE", third, 200)]


def test_concurrent_logins_send_token_once(pam, passage_server):
    issued = pam.deposit_new()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(pam.login, *FULL_LOGIN) for _ in range(2)]
        runs = [future.result(timeout=DRIVER_TIMEOUT) for future in futures]

    auth_codes = sorted(run.code("auth") for run in runs)
    assert auth_codes == ["PAM_AUTHINFO_UNAVAIL", SUCCESS], runs
    posts = [call for call in api_calls(passage_server)
             if call[0] == "POST"]
    assert posts == [("POST", issued["refresh_token"], 200)]
    assert not any(entry["reuse"] for entry in passage_server.log())


def test_reply_without_refresh_token_keeps_sent_token(pam, passage_server):
    """A server without rotation: the token sent stays the session's."""
    passage_server.configure(omit_refresh_token=True)
    issued = pam.deposit_new()
    token = issued["refresh_token"]

    run = pam.login("auth", "open", READ_REFRESH, "close")

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    assert single_output_line(run, 0) == token
    assert api_calls(passage_server) == [
        ("POST", token, 200), ("DELETE", token, 200)]
    assert pam.entry() is None


# ---------------------------------------------------------------------------
# No token
# ---------------------------------------------------------------------------

def test_no_stored_token_is_authinfo_unavail(pam, passage_server):
    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert passage_server.log() == []


def test_no_stored_token_with_nouserok_is_ignored(pam, passage_server):
    pam.write_service(args=["nouserok"])

    run = pam.login("auth")

    assert run.code("auth") == "PAM_IGNORE", run
    assert passage_server.log() == []


def test_unknown_user_is_user_unknown(pam, passage_server):
    run = run_driver(pam.confdir, pam.service, "ppt-no-such-user",
                     ["auth"])

    assert run.code("auth") == "PAM_USER_UNKNOWN", run
    assert passage_server.log() == []


# ---------------------------------------------------------------------------
# The server says no
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401])
def test_invalid_token_fails_and_is_removed(pam, passage_server, status):
    issued = pam.deposit_new()
    passage_server.configure(fail={"status": status}, fail_count=1)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTH_ERR", run
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], status)]
    assert pam.entry() is None


def test_removal_of_invalid_token_is_logged(pam, passage_server,
                                            syslog_lines):
    pam.deposit(passage_server.issue()["refresh_token"] + "-unknown")
    mark = syslog_lines.mark()

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTH_ERR", run
    removed = [line for line in pam.log_lines(syslog_lines, mark)
               if str(pam.entry_path) in line.text
               and "removed" in line.text]
    assert removed, pam.log_lines(syslog_lines, mark)


def test_forbidden_token_is_perm_denied_and_kept(pam, passage_server):
    issued = pam.deposit_new()
    stored = pam.entry()
    passage_server.configure(fail={"status": 403, "code": "user_not_active"},
                             fail_count=1)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_PERM_DENIED", run
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 403)]
    assert pam.entry() == stored


def test_unknown_app_fails_and_keeps_token(pam, passage_server):
    issued = pam.deposit_new()
    stored = pam.entry()
    pam.write_config(app_id="no-such-app")

    run = pam.login("auth")

    assert run.code("auth") in ("PAM_AUTH_ERR", "PAM_PERM_DENIED"), run
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 404)]
    assert pam.entry() == stored


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_error_is_authinfo_unavail_and_keeps_token(
        pam, passage_server, status):
    issued = pam.deposit_new()
    stored = pam.entry()
    passage_server.configure(fail={"status": status})

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    # The POST reached the server: sending it again could reuse a token.
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], status)]
    assert pam.entry() == stored


def test_unreachable_server_is_authinfo_unavail_and_keeps_token(
        pam, passage_server, closed_port):
    pam.deposit_new()
    stored = pam.entry()
    pam.write_config(api_url=f"https://127.0.0.1:{closed_port}/v1",
                     connect_timeout=2, timeout=4)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert pam.entry() == stored


def test_timeout_is_authinfo_unavail_and_not_retried(pam, passage_server):
    issued = pam.deposit_new()
    pam.write_config(timeout=1)
    passage_server.configure(fail={"mode": "slow", "delay": 3},
                             fail_count=1)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert [call[:2] for call in api_calls(passage_server)] == [
        ("POST", issued["refresh_token"])]


def test_dropped_connection_is_authinfo_unavail_and_not_retried(
        pam, passage_server):
    issued = pam.deposit_new()
    stored = pam.entry()
    passage_server.configure(fail="drop")

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], None)]
    assert pam.entry() == stored


@pytest.mark.parametrize("mode", ["bad_json", "missing_fields",
                                  "wrong_types", "huge", "redirect"])
def test_unusable_reply_is_authinfo_unavail_without_keys(
        pam, passage_server, mode):
    issued = pam.deposit_new()
    stored = pam.entry()
    passage_server.configure(fail=mode)

    run = pam.login("auth", "open", FIND_AUTH, "close")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert run.code("open") != SUCCESS, run
    assert run.run_output(0)[0] != 0, "an auth token key exists"
    assert [call[:2] for call in api_calls(passage_server)] == [
        ("POST", issued["refresh_token"])]
    assert pam.entry() == stored


def test_redirect_is_not_followed(pam, passage_server):
    pam.deposit_new()
    passage_server.configure(fail="redirect")

    pam.login("auth")

    assert [entry["path"] for entry in passage_server.log()] == [
        "/v1/apps/test-app/tokens"]


def test_configured_proxy_is_used(pam, passage_server, closed_port):
    """proxy= is honoured: with a dead proxy, nothing reaches the server."""
    pam.deposit_new()
    stored = pam.entry()
    pam.write_config(proxy=f"http://127.0.0.1:{closed_port}")

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert passage_server.log() == []
    assert pam.entry() == stored


def test_setuid_host_with_key_log_file_makes_no_request(pam, passage_server,
                                                        tmp_path):
    """Under su or sudo the invoking user sets the environment: libcurl
    would write TLS secrets, as root, to the file they name."""
    pam.deposit_new()
    stored = pam.entry()
    keylog = tmp_path / "keylog"
    env = dict(clean_environment(), SSLKEYLOGFILE=str(keylog))

    # Real uid the user's, effective uid root: a setuid program.
    run = pam.login("auth", env=env,
                    wrapper=["setpriv", f"--ruid={pam.user.uid}"])

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert passage_server.log() == []
    assert not keylog.exists()
    assert pam.entry() == stored


def test_no_proxy_in_environment_does_not_bypass_proxy(pam, passage_server,
                                                       closed_port):
    pam.deposit_new()
    pam.write_config(proxy=f"http://127.0.0.1:{closed_port}")
    env = dict(clean_environment(), no_proxy="*", NO_PROXY="*")

    run = pam.login("auth", env=env)

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert passage_server.log() == []


def test_server_text_is_logged_without_control_characters(
        pam, passage_server, syslog_lines):
    pam.deposit_new()
    passage_server.configure(fail={
        "status": 403, "code": "user_not_active",
        "error": "first line\nsecond line\x1b[31m red\r"})
    mark = syslog_lines.mark()

    pam.login("auth")

    lines = pam.log_lines(syslog_lines, mark)
    refused = [line for line in lines if "403" in line.text]
    assert refused, lines
    for line in refused:
        assert not any(ord(char) < 0x20 or ord(char) == 0x7f
                       for char in line.text), repr(line.text)


def test_certificate_for_another_host_is_refused(pam, passage_server,
                                                 wronghost_server):
    pam.deposit_new()
    stored = pam.entry()
    # Signed by the CA the module trusts, but for wrong.example.
    pam.write_config(api_url=wronghost_server.url)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert wronghost_server.log() == []
    assert pam.entry() == stored


def test_proxy_variables_in_environment_are_ignored(pam, passage_server,
                                                    closed_port):
    issued = pam.deposit_new()
    proxy = f"http://127.0.0.1:{closed_port}"
    env = clean_environment()
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env[name] = proxy

    run = pam.login(*FULL_LOGIN, env=env)

    assert run.code("auth") == SUCCESS, run
    assert [call[:2] for call in api_calls(passage_server)] == [
        ("POST", issued["refresh_token"]),
        ("DELETE", successor(passage_server, issued))]


# ---------------------------------------------------------------------------
# The store refuses what it cannot trust
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"rt_with space\n", b"rt_control\x01char\n", b"rt_caf\xc3\xa9\n",
    b"\n", b"", b"x" * 5000 + b"\n",
], ids=["space", "control", "utf8", "empty-line", "empty", "oversized"])
def test_malformed_stored_token_is_not_sent(pam, passage_server, content):
    pam.write_entry(content)

    run = pam.login("auth")

    assert run.code("auth") != SUCCESS, run
    assert passage_server.log() == []


def test_symlinked_store_entry_is_refused(pam, passage_server):
    issued = passage_server.issue()
    target = pam.dir / "elsewhere"
    target.write_text(issued["refresh_token"] + "\n")
    os.chmod(target, 0o600)
    pam.entry_path.symlink_to(target)

    run = pam.login("auth")

    assert run.code("auth") != SUCCESS, run
    assert passage_server.log() == []
    assert target.read_text() == issued["refresh_token"] + "\n"


def test_store_entry_readable_by_others_is_refused(pam, passage_server):
    pam.deposit_new()
    os.chmod(pam.entry_path, 0o644)

    run = pam.login("auth")

    assert run.code("auth") != SUCCESS, run
    assert passage_server.log() == []


def test_group_writable_store_directory_is_refused(pam, passage_server):
    pam.deposit_new()
    os.chmod(pam.store_dir, 0o770)

    run = pam.login("auth")

    assert run.code("auth") != SUCCESS, run
    assert passage_server.log() == []


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

def test_missing_app_id_is_service_error(pam, passage_server):
    pam.deposit_new()
    pam.write_config(app_id=None)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []


def test_missing_app_id_is_logged(pam, syslog_lines):
    pam.write_config(app_id=None)
    mark = syslog_lines.mark()

    pam.login("auth")

    lines = pam.log_lines(syslog_lines, mark)
    assert [line for line in lines
            if "app_id" in line.text and line.level == "err"], lines


@pytest.mark.parametrize("where", ["argument", "config file"])
def test_unknown_option_is_service_error(pam, passage_server, where):
    pam.deposit_new()
    if where == "argument":
        pam.write_service(args=["no_such_option=1"])
    else:
        pam.write_config(no_such_option=1)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []


def test_unknown_option_is_logged(pam, syslog_lines):
    pam.write_service(args=["no_such_option=1"])
    mark = syslog_lines.mark()

    pam.login("auth")

    lines = pam.log_lines(syslog_lines, mark)
    assert [line for line in lines
            if "no_such_option" in line.text and line.level == "err"], lines


def test_arguments_override_config_file(pam, passage_server):
    issued = pam.deposit_new()
    pam.write_config(app_id="no-such-app")
    pam.write_service(args=["app_id=test-app"])

    run = pam.login("auth")

    assert run.code("auth") == SUCCESS, run
    assert [entry["app_id"] for entry in passage_server.log()] == [
        issued["app_id"]]


def test_symlinked_config_file_is_refused(pam, passage_server):
    pam.deposit_new()
    real = pam.dir / "real.conf"
    pam.config_file.rename(real)
    pam.config_file.symlink_to(real)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []


def test_app_id_is_percent_encoded_in_path(pam, make_passage_server):
    server = make_passage_server(app_ids=["team a/b"])
    issued = server.issue(app_id="team a/b")
    pam.deposit(issued["refresh_token"])
    pam.write_config(api_url=server.url, app_id="team a/b")

    run = pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    log = server.log()
    assert [(entry["method"], entry["raw_path"], entry["app_id"])
            for entry in log] == [
        ("POST", "/v1/apps/team%20a%2Fb/tokens", "team a/b"),
        ("DELETE", "/v1/apps/team%20a%2Fb/tokens", "team a/b")]


def test_ipv6_loopback_server_is_reachable(pam, make_passage_server):
    try:
        server = make_passage_server(host="::1")
    except OSError as error:
        pytest.skip(f"no IPv6 loopback: {error}")
    issued = server.issue()
    pam.deposit(issued["refresh_token"])
    pam.write_config(api_url=server.url)

    run = pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    assert [entry["method"] for entry in server.log()] == ["POST", "DELETE"]


def test_api_url_of_another_scheme_is_service_error(pam, passage_server,
                                                    closed_port):
    pam.deposit_new()
    pam.write_config(api_url=f"ftp://127.0.0.1:{closed_port}/v1")

    run = pam.login("auth")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []


def test_group_writable_config_file_is_refused(pam, passage_server):
    pam.deposit_new()
    os.chmod(pam.config_file, 0o620)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []


# ---------------------------------------------------------------------------
# The token from the user
# ---------------------------------------------------------------------------

def test_prompt_exchanges_typed_token(pam, passage_server):
    pam.write_service(auth_args=["prompt"])
    issued = passage_server.issue()
    pam.map_user(issued["sub"])

    run = pam.login("auth", "open", READ_REFRESH, "close",
                    input_text=issued["refresh_token"] + "\n")

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    assert "conv: " in run.stderr
    rotated = successor(passage_server, issued)
    assert single_output_line(run, 0) == rotated
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200), ("DELETE", rotated, 200)]
    assert pam.entry() is None


def test_second_authentication_carries_on_with_typed_token(
        pam, passage_server):
    """A retry of pam_authenticate in one transaction neither asks again
    nor leaves the first exchange's chain held by nobody."""
    pam.write_service(auth_args=["prompt"])
    issued = passage_server.issue()
    pam.map_user(issued["sub"])

    run = pam.login("auth", "auth", "open", READ_REFRESH, "close",
                    input_text=issued["refresh_token"] + "\n")

    assert run.codes() == [("auth", SUCCESS), ("auth", SUCCESS),
                           ("open", SUCCESS), ("close", SUCCESS)], run
    assert run.stderr.count("conv: ") == 1, run
    rotated = successor(passage_server, issued)
    assert single_output_line(run, 0) == rotated
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200), ("DELETE", rotated, 200)]


def test_prompt_is_not_used_when_store_has_token(pam, passage_server):
    pam.write_service(auth_args=["prompt"])
    issued = pam.deposit_new()
    typed = passage_server.issue()
    pam.map_user(issued["sub"], typed["sub"])

    run = pam.login("auth", input_text=typed["refresh_token"] + "\n")

    assert run.code("auth") == SUCCESS, run
    assert "conv: " not in run.stderr
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200)]


def test_typed_malformed_token_is_not_sent(pam, passage_server):
    pam.write_service(auth_args=["prompt"])
    pam.map_user("user-anyone")

    run = pam.login("auth", input_text="rt_two words\n")

    assert run.code("auth") != SUCCESS, run
    assert "conv: " in run.stderr
    assert passage_server.log() == []


def test_prompt_is_not_used_under_pam_silent(pam, passage_server):
    pam.write_service(auth_args=["prompt"])
    issued = passage_server.issue()
    pam.map_user(issued["sub"])

    run = pam.login("auth", options=["--silent"],
                    input_text=issued["refresh_token"] + "\n")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert "conv: " not in run.stderr
    assert passage_server.log() == []


def test_prompt_without_conversation_fails_cleanly(pam, passage_server):
    pam.write_service(auth_args=["prompt"])
    pam.map_user("user-anyone")

    run = pam.login("auth", options=["--no-conv"])

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert passage_server.log() == []


def test_use_first_pass_without_earlier_module_has_no_token(
        pam, passage_server):
    pam.write_service(auth_args=["use_first_pass"])
    issued = passage_server.issue()
    pam.map_user(issued["sub"])

    run = pam.login("auth", input_text=issued["refresh_token"] + "\n")

    assert run.code("auth") == "PAM_AUTHINFO_UNAVAIL", run
    assert "conv: " not in run.stderr
    assert passage_server.log() == []


def test_use_first_pass_takes_earlier_modules_token(pam, passage_server):
    # pam_unix asks for a "password", keeps it as PAM_AUTHTOK and fails:
    # the user has none.  pam_passage must take the answer as its token.
    pam.write_service(auth_args=["use_first_pass"],
                      auth_before=["auth optional pam_unix.so nodelay"])
    issued = passage_server.issue()
    pam.map_user(issued["sub"])

    run = pam.login("auth", input_text=issued["refresh_token"] + "\n")

    assert run.code("auth") == SUCCESS, run
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200)]
    # One prompt only: pam_unix's.
    assert run.stderr.count("conv: ") == 1, run


def test_try_first_pass_without_earlier_token_prompts(pam, passage_server):
    pam.write_service(auth_args=["try_first_pass", "prompt"])
    issued = passage_server.issue()
    pam.map_user(issued["sub"])

    run = pam.login("auth", input_text=issued["refresh_token"] + "\n")

    assert run.code("auth") == SUCCESS, run
    assert "conv: " in run.stderr
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200)]


@pytest.mark.parametrize("option", ["prompt", "use_first_pass",
                                    "try_first_pass"])
def test_typed_token_option_without_user_map_is_service_error(
        pam, passage_server, option):
    pam.write_service(auth_args=[option])
    issued = passage_server.issue()

    run = pam.login("auth", input_text=issued["refresh_token"] + "\n")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []


def test_typed_token_of_unlisted_passage_user_is_refused_and_revoked(
        pam, passage_server):
    """Anyone may hold a Passage session: only the map says whose account
    it opens, and the session the login made is ended at once."""
    pam.write_service(auth_args=["prompt"])
    issued = passage_server.issue()
    pam.map_user("user-somebody-else")

    run = pam.login("auth", "open", "close",
                    input_text=issued["refresh_token"] + "\n")

    assert run.code("auth") == "PAM_PERM_DENIED", run
    rotated = successor(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200), ("DELETE", rotated, 200)]


def test_stored_token_of_unlisted_passage_user_is_refused_and_removed(
        pam, passage_server):
    issued = pam.deposit_new()
    pam.map_user("user-somebody-else")

    run = pam.login("auth")

    assert run.code("auth") == "PAM_PERM_DENIED", run
    rotated = successor(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200), ("DELETE", rotated, 200)]
    assert pam.entry() is None


def test_unsafe_user_map_spends_no_token(pam, passage_server):
    """An administrator's slip with the map must not burn deposits."""
    issued = pam.deposit_new()
    stored = pam.entry()
    path = pam.map_user(issued["sub"])
    os.chmod(path, 0o664)

    run = pam.login("auth")

    assert run.code("auth") == "PAM_SERVICE_ERR", run
    assert passage_server.log() == []
    assert pam.entry() == stored


def test_user_map_gone_by_logout_still_revokes(pam, passage_server,
                                               meeting):
    """Only an exchange needs the map: close must end the chain anyway."""
    issued = pam.deposit_new()
    path = pam.map_user(issued["sub"])

    with ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(pam.login, "auth", "open", meeting.step,
                            "close")
        meeting.wait_until_ready()
        path.unlink()
        meeting.go()
        run = login.result(timeout=DRIVER_TIMEOUT)

    assert run.code("open") == SUCCESS, run
    assert run.code("close") == SUCCESS, run
    first, second = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("DELETE", second, 200)]


def test_stored_token_of_listed_passage_user_logs_in(pam, passage_server):
    issued = pam.deposit_new()
    pam.map_user("user-other", issued["sub"])

    run = pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run


# ---------------------------------------------------------------------------
# Session without authentication
# ---------------------------------------------------------------------------

def test_open_session_without_authentication_is_ignored(pam,
                                                        passage_server):
    pam.deposit_new()
    stored = pam.entry()

    run = pam.login("open", "close")

    assert run.codes() == [("open", "PAM_IGNORE"), ("close", "PAM_IGNORE")]
    assert passage_server.log() == []
    assert pam.entry() == stored


def test_session_exchange_exchanges_at_open(pam, passage_server):
    pam.write_service(session_args=["session_exchange"])
    issued = pam.deposit_new()

    run = pam.login("open", READ_AUTH, READ_REFRESH, "close")

    assert run.codes() == [("open", SUCCESS), ("close", SUCCESS)], run
    assert_issued_auth_token(passage_server, single_output_line(run, 0),
                             issued)
    rotated = successor(passage_server, issued)
    assert single_output_line(run, 1) == rotated
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200), ("DELETE", rotated, 200)]
    assert pam.entry() is None


def test_session_exchange_without_stored_token_sends_nothing(
        pam, passage_server):
    pam.write_service(session_args=["session_exchange"])

    run = pam.login("open", "close")

    assert run.code("open") == "PAM_AUTHINFO_UNAVAIL", run
    assert passage_server.log() == []


def test_foreign_session_keyring_is_refused_and_token_kept(
        pam, passage_server):
    # No pam_keyinit: the session keyring is still root's.
    pam.write_service(keyinit=False)
    issued = pam.deposit_new()

    run = pam.login(*FULL_LOGIN)

    assert run.code("auth") == SUCCESS, run
    assert run.code("open") != SUCCESS, run
    # libpam replays open's failure for close, whatever the module said;
    # what matters is that close revoked nothing.
    assert [call[0] for call in api_calls(passage_server)] == ["POST"]
    # The only valid token must not be lost.
    assert pam.entry().splitlines()[0] == successor(passage_server, issued)


def test_foreign_session_keyring_refusal_names_pam_keyinit(
        pam, syslog_lines):
    pam.write_service(keyinit=False)
    pam.deposit_new()
    mark = syslog_lines.mark()

    pam.login(*FULL_LOGIN)

    lines = pam.log_lines(syslog_lines, mark)
    assert [line for line in lines if "pam_keyinit" in line.text], lines


# ---------------------------------------------------------------------------
# Close and credentials
# ---------------------------------------------------------------------------

def test_on_close_keep_stores_current_token(pam, passage_server):
    pam.write_config(on_close="keep")
    issued = pam.deposit_new()

    # A renewal inside the session: "current" is not the login's token.
    passage_server.configure(auth_ttl=20)
    run = pam.login("auth", "open", "setcred-refresh", "close")

    assert run.code("close") == SUCCESS, run
    first, second, third = chain_of(passage_server, issued)
    assert pam.entry() == third + "\n"
    assert passage_server.tokens()[third]["state"] == "active"
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200)]


def test_on_close_keep_does_not_overwrite_newer_deposit(
        pam, passage_server, meeting):
    """A token deposited while the session runs is the only holder of
    its chain: close must not write over it."""
    pam.write_config(on_close="keep")
    pam.deposit_new()

    with ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(pam.login, "auth", "open", meeting.step,
                            "close")
        meeting.wait_until_ready()
        deposited = pam.deposit_new()
        meeting.go()
        run = login.result(timeout=DRIVER_TIMEOUT)

    assert run.code("open") == SUCCESS, run
    assert run.run_output(0)[0] == 0, run
    assert passage_server.tokens()[deposited["refresh_token"]][
        "state"] == "active"
    assert pam.entry().splitlines()[0] == deposited["refresh_token"]


def test_on_close_keep_lets_next_login_use_kept_token(pam, passage_server):
    pam.write_config(on_close="keep")
    issued = pam.deposit_new()
    assert pam.login(*FULL_LOGIN).code("close") == SUCCESS

    run = pam.login("auth", "open", READ_AUTH, "close")

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    first, second, third = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200)]
    assert_issued_auth_token(passage_server, single_output_line(run, 0),
                             issued)
    assert pam.entry() == third + "\n"


def test_close_without_open_is_ignored_and_revokes_nothing(
        pam, passage_server):
    issued = pam.deposit_new()

    run = pam.login("auth", "close")

    assert run.codes() == [("auth", SUCCESS), ("close", "PAM_IGNORE")], run
    assert [call[0] for call in api_calls(passage_server)] == ["POST"]
    rotated = successor(passage_server, issued)
    assert passage_server.tokens()[rotated]["state"] == "active"
    assert pam.entry().splitlines()[0] == rotated


def test_setcred_delete_after_close_succeeds(pam, passage_server):
    pam.deposit_new()

    run = pam.login("auth", "open", "close", "setcred-delete")

    assert run.codes() == [("auth", SUCCESS), ("open", SUCCESS),
                           ("close", SUCCESS), ("setcred-delete", SUCCESS)]
    assert [call[0] for call in api_calls(passage_server)] == [
        "POST", "DELETE"]


def test_setcred_establish_twice_makes_no_request(pam, passage_server):
    pam.deposit_new()

    run = pam.login("auth", "setcred", "setcred", "open", "close")

    assert run.code("setcred", 0) == SUCCESS, run
    assert run.code("setcred", 1) == SUCCESS, run
    assert run.code("open") == SUCCESS, run
    assert [call[0] for call in api_calls(passage_server)] == [
        "POST", "DELETE"]


def test_setcred_refresh_renews_auth_token(pam, passage_server):
    # Renewal happens when the token expires within 30 seconds.
    passage_server.configure(auth_ttl=20)
    issued = pam.deposit_new()

    run = pam.login("auth", "open", READ_AUTH, "setcred-refresh",
                    READ_AUTH, READ_REFRESH, "close")

    assert run.code("setcred-refresh") == SUCCESS, run
    old_auth = single_output_line(run, 0)
    new_auth = single_output_line(run, 1)
    assert new_auth != old_auth
    assert_issued_auth_token(passage_server, new_auth, issued)
    first, second, third = chain_of(passage_server, issued)
    assert single_output_line(run, 2) == third
    # Close revokes the session's current token, not the login's.
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200),
        ("DELETE", third, 200)]


def test_setcred_refresh_of_a_fresh_token_makes_no_request(pam,
                                                          passage_server):
    """login and sudo call it right after open and before every command."""
    issued = pam.deposit_new()

    run = pam.login("auth", "open", "setcred-refresh", "close")

    assert run.code("setcred-refresh") == SUCCESS, run
    first, second = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("DELETE", second, 200)]


def test_delete_cred_before_close_still_revokes_token(pam,
                                                     passage_server):
    """Some applications delete credentials before closing the session.

    The session's refresh token must still be revoked at close.
    """
    issued = pam.deposit_new()

    run = pam.login("auth", "open", "setcred-delete", "close")

    assert run.code("setcred-delete") == SUCCESS, run
    rotated = successor(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", issued["refresh_token"], 200), ("DELETE", rotated, 200)]
    assert passage_server.tokens()[rotated]["state"] == "revoked"


def test_delete_cred_before_close_does_not_lose_kept_token(
        pam, passage_server):
    """With on_close=keep the chain must survive that order too."""
    pam.write_config(on_close="keep")
    issued = pam.deposit_new()

    run = pam.login("auth", "open", "setcred-delete", "close")

    assert run.code("setcred-delete") == SUCCESS, run
    rotated = successor(passage_server, issued)
    # Still valid at the server: losing it here loses the chain.
    assert passage_server.tokens()[rotated]["state"] == "active"
    assert pam.entry() == rotated + "\n"


# ---------------------------------------------------------------------------
# The host process
# ---------------------------------------------------------------------------

def test_signal_mask_and_ignored_signals_are_left_unchanged(pam):
    pam.deposit_new()

    run = pam.login(SIGNAL_STATE, "auth", "open", SIGNAL_STATE,
                    "setcred-refresh", "close", SIGNAL_STATE)

    assert run.code("close") == SUCCESS, run
    before = run.run_output(0)
    assert before[0] == 0 and len(before[1]) == 2, run
    assert run.run_output(1) == before
    assert run.run_output(2) == before


def test_no_threads_or_children_left_behind(pam):
    pam.deposit_new()

    run = pam.login("auth", "open", "setcred-refresh", DRIVER_TASKS,
                    "close", DRIVER_TASKS)

    assert run.code("close") == SUCCESS, run
    for index in (0, 1):
        status, lines = run.run_output(index)
        assert status == 0, run
        shell, threads, children = lines[0], lines[1], lines[2].split()
        assert int(threads) == 1, run
        assert children == [shell], run


# ---------------------------------------------------------------------------
# A store in the user's home
# ---------------------------------------------------------------------------

def test_home_store_entry_is_written_as_the_user(home_pam, home_user,
                                                 passage_server):
    issued = home_pam.deposit_new()

    run = home_pam.login("auth")

    assert run.code("auth") == SUCCESS, run
    # The leased entry the module wrote back.
    assert home_pam.entry().splitlines()[0] == successor(passage_server,
                                                         issued)
    st = home_pam.entry_path.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (home_user.uid, 0o600)


def test_home_store_login_removes_entry(home_pam, passage_server):
    issued = home_pam.deposit_new()

    run = home_pam.login(*FULL_LOGIN)

    assert run.codes() == [(step, SUCCESS) for step in FULL_LOGIN], run
    assert [call[:2] for call in api_calls(passage_server)] == [
        ("POST", issued["refresh_token"]),
        ("DELETE", successor(passage_server, issued))]
    assert home_pam.entry() is None


def test_forged_handoff_in_a_setuid_host_is_not_trusted(home_pam,
                                                        passage_server):
    """Under su or sudo the user keyring is the invoking user's: a key
    planted there must never pass for tokens from authentication."""
    user = home_pam.user
    token = home_pam.deposit_new()["refresh_token"]
    lease = "ab" * 16
    # The user controls a home store: a lease line naming their own key.
    home_pam.write_entry(f"{token}\nlease {lease} {int(time.time()) + 60}\n")
    as_user = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}",
               "--clear-groups"]
    planted = subprocess.run(
        [*as_user, KEYCTL, "padd", "user",
         f"pam_passage:handoff:{lease}:{user.name}@", "@u"],
        input=f"forged.jwt.token\n{token}\n0 0 1\n", text=True,
        capture_output=True, timeout=COMMAND_TIMEOUT)
    assert planted.returncode == 0, planted
    try:
        # A setuid host: real uid the user's, effective uid root.
        run = home_pam.login("auth", "open", "close",
                             wrapper=["setpriv", f"--ruid={user.uid}"])
    finally:
        # The user keyring outlives the user: a later one of that uid
        # must not find the key.
        subprocess.run([*as_user, KEYCTL, "invalidate",
                        planted.stdout.strip()],
                       capture_output=True, timeout=COMMAND_TIMEOUT)

    assert run.code("auth") != SUCCESS, run
    assert passage_server.log() == []


def test_home_store_writable_by_others_is_refused(home_pam,
                                                  passage_server):
    home_pam.deposit_new()
    os.chmod(home_pam.store_dir, 0o777)

    run = home_pam.login("auth")

    assert run.code("auth") != SUCCESS, run
    assert passage_server.log() == []


# ---------------------------------------------------------------------------
# Log lines
# ---------------------------------------------------------------------------

def test_exchange_and_revocation_are_logged_with_fingerprints(
        pam, passage_server, syslog_lines):
    issued = pam.deposit_new()
    mark = syslog_lines.mark()

    pam.login(*FULL_LOGIN)

    lines = pam.log_lines(syslog_lines, mark)
    rotated = successor(passage_server, issued)
    exchanged = [line for line in lines
                 if fingerprint(issued["refresh_token"]) in line.text
                 and fingerprint(rotated) in line.text]
    revoked = [line for line in lines if fingerprint(rotated) in line.text
               and "revoked" in line.text]
    assert exchanged and revoked, lines
    for line in exchanged + revoked:
        assert (line.facility, line.level) == (LOG_AUTHPRIV, "info")


def test_tokens_never_appear_in_log_lines(pam, passage_server,
                                          syslog_lines):
    issued = pam.deposit_new()
    mark = syslog_lines.mark()

    run = pam.login("auth", "open", READ_AUTH, "setcred-refresh",
                    READ_AUTH, "close")

    lines = pam.log_lines(syslog_lines, mark)
    assert lines, "the module logged nothing: the check would be empty"
    tokens = chain_of(passage_server, issued) + [
        single_output_line(run, 0), single_output_line(run, 1)]
    leaks = [line for line in syslog_lines.since(mark)
             if any(token in line.text for token in tokens)]
    assert leaks == []


def test_debug_option_adds_debug_lines(pam, syslog_lines):
    pam.deposit_new()
    pam.write_service(args=["debug"])
    mark = syslog_lines.mark()

    pam.login(*FULL_LOGIN)

    lines = pam.log_lines(syslog_lines, mark)
    assert [line for line in lines if line.level == "debug"], lines


def test_no_debug_lines_without_debug_option(pam, syslog_lines):
    pam.deposit_new()
    mark = syslog_lines.mark()

    pam.login(*FULL_LOGIN)

    lines = pam.log_lines(syslog_lines, mark)
    assert lines, "the module logged nothing: the check would be empty"
    assert [line for line in lines if line.level == "debug"] == []

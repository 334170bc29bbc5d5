"""SSH end-to-end tests: real logins to a real sshd on 127.0.0.1.

Each test writes a PAM stack for the tests' own sshd (see sshtest.py),
deposits a refresh token that the test server issued, logs in with the
real ssh client, and checks what the session saw against what the server
issued and logged.  The module always talks to the test server: every
configuration names its api_url and ca_file.

Needs root, openssh-server, openssh-client, sshpass and keyutils; skips
without them.
"""

import os
import re
import secrets
import time
from pathlib import Path

import pytest

from sshtest import (CONF, KBDINT, PASSWORD, SSHD, Askpass,
                     PamService, Sshd, SshSession, StoreEntry, WorkDir,
                     authorize_key, create_user, delete_user, deposit,
                     generate_key, key_count, missing_prerequisite,
                     read_store, run, ssh_askpass, ssh_password,
                     ssh_publickey, visible_keys, write_module_config)

APP_ID = "test-app"
METHODS = ("keyboard-interactive", "publickey")

# Remote commands.  Each prints KEY=VALUE lines for the test to read.
PRINT_AUTH = "t=$(keyctl print %user:passage:auth_token) && echo auth=$t"
HAS_KEYS = ("keyctl print %user:passage:auth_token >/dev/null 2>&1 "
            "&& echo keys=yes || echo keys=no")


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def work(certs):
    # Every test but the one reading conf/ alone comes through here.
    reason = missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    work = WorkDir(certs.ca)
    yield work
    work.remove()


@pytest.fixture(scope="module")
def sshd(work):
    service = PamService(f"sshd-passage-test-{secrets.token_hex(3)}")
    # Nobody gets in until a test writes its stack.
    service.write([f"{group} requisite pam_deny.so"
                   for group in ("auth", "account", "session")])
    server = Sshd(work, service)
    try:
        yield server.start()
    finally:
        server.stop()
        service.remove()


@pytest.fixture(scope="module")
def client_key(work):
    path = work.private_dir("client") / "id_ed25519"
    generate_key(path)
    return path


class Login:
    """One test's world: a store, a module configuration, users, a stack."""

    def __init__(self, work, sshd, server, client_key):
        self.work = work
        self.sshd = sshd
        self.server = server
        self.client_key = client_key
        self.store = work.private_dir("store")
        self.config = write_module_config(
            work.private_dir("conf") / "pam_passage.conf",
            app_id=APP_ID, api_url=server.url, ca_file=work.ca_file,
            store=f"{self.store}/%u", debug="yes")
        self.users = []

    def user(self, kind=""):
        user = create_user(kind)
        self.users.append(user)
        authorize_key(user, f"{self.client_key}.pub")
        return user

    def user_with_token(self, kind=""):
        """A user whose store entry holds a newly issued refresh token."""
        user = self.user(kind)
        issued = self.server.issue()
        deposit(self.config, user, issued["refresh_token"])
        return user, issued

    def user_map(self, user, *subs):
        """A user_map= argument letting these Passage users open user's
        account: typed tokens need one."""
        path = self.work.private_dir("conf") / f"user_map-{user.name}"
        path.write_text("".join(f"{user.name} {sub}\n" for sub in subs))
        path.chmod(0o644)
        return f"user_map={path}"

    def module(self, *args):
        return " ".join([str(self.work.module), f"config={self.config}",
                         *args])

    def write_stack(self, auth=None, account="pam_unix.so",
                    session_args=()):
        """The usual stack: the password, then the module; parts vary."""
        if auth is None:
            # A wrong password stops here, before any exchange.
            auth = ["auth requisite pam_unix.so",
                    f"auth required {self.module()}"]
        self.sshd.service.write(auth + [
            f"account required {account}",
            # The login's own session keyring: the module needs it.
            "session optional pam_keyinit.so force revoke",
            "session required pam_unix.so",
            f"session required {self.module(*session_args)}",
        ])

    def log_in(self, method, user, command, stack=None):
        """A login by method, with the stack given or the one it needs."""
        if stack is not None:
            self.sshd.service.write(stack)
        elif method == "keyboard-interactive":
            self.write_stack()
        else:
            self.write_stack(session_args=["session_exchange"])
        if method == "keyboard-interactive":
            return ssh_password(self.sshd, user, command)
        return ssh_publickey(self.sshd, user, self.client_key, command)

    def close(self):
        errors = []
        try:
            self.sshd.wait_sessions_closed()
        finally:
            for user in self.users:
                try:
                    delete_user(user)
                except AssertionError as error:
                    errors.append(str(error))
        assert errors == []


@pytest.fixture
def login(work, sshd, passage_server, client_key):
    world = Login(work, sshd, passage_server, client_key)
    yield world
    world.close()


# ---------------------------------------------------------------------------
# What the server saw: the expected values come from here
# ---------------------------------------------------------------------------

def requests(server, method):
    return [entry for entry in server.log() if entry["method"] == method]


def only(items, what):
    assert len(items) == 1, f"exactly one {what} expected: {items}"
    return items[0]


def newest_token(server, chain):
    """The chain's token that no POST has sent yet: the latest issued.

    With rotation, each refresh answers a new token and spends the one
    sent, so exactly one token of a chain has never been sent.
    """
    sent = {entry["refresh_token"] for entry in requests(server, "POST")}
    fresh = [token for token, info in server.tokens().items()
             if info["chain"] == chain and token not in sent]
    return only(fresh, f"unsent token in {chain}")


def assert_issued_auth_token(server, auth_token, issued, post):
    """The token is signed by the server, for this chain, by this POST."""
    claims = server.claims(auth_token)
    assert claims["sub"] == issued["sub"]
    assert claims["aud"] == APP_ID
    # The server stamps iat after the POST arrived: not an older token.
    assert claims["iat"] >= int(post["time"])
    return claims


def assert_revoked_at_logout(server, chain):
    """One DELETE, naming the chain's latest token, which is revoked."""
    latest = newest_token(server, chain)
    delete = only(requests(server, "DELETE"), "DELETE")
    assert delete["refresh_token"] == latest
    assert delete["status"] == 200
    assert server.tokens()[latest]["state"] == "revoked"


def module_lines(lines):
    return [line for line in lines if "pam_passage(" in line.text]


# ---------------------------------------------------------------------------
# A whole login, by keyboard-interactive and by public key
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_session_holds_the_auth_token_the_server_issued(login, method):
    user, issued = login.user_with_token()
    result = login.log_in(method, user, PRINT_AUTH)

    assert result.returncode == 0, result
    post = only(requests(login.server, "POST"), "POST")
    assert post["refresh_token"] == issued["refresh_token"]
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)


@pytest.mark.parametrize("method", METHODS)
def test_logout_revokes_the_session_refresh_token(login, method):
    user, issued = login.user_with_token()
    result = login.log_in(method, user, "true")
    assert result.returncode == 0, result

    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])


@pytest.mark.parametrize("method", METHODS)
def test_session_refresh_token_is_the_one_the_server_issued(login, method):
    user, issued = login.user_with_token()
    result = login.log_in(method, user, "t=$(keyctl print "
                          "%user:passage:refresh_token) && echo refresh=$t")

    assert result.returncode == 0, result
    assert result.value("refresh") == newest_token(login.server,
                                                   issued["chain"])


def test_password_method_login_holds_the_issued_token(login):
    # sshd's "password" method (sshd config of pps-pw-* users) runs the
    # auth stack in its monitor, not in a forked child as
    # keyboard-interactive does.
    user, issued = login.user_with_token("pw")
    login.write_stack()
    result = ssh_password(login.sshd, user, PRINT_AUTH, method=PASSWORD)

    assert result.returncode == 0, result
    post = only(requests(login.server, "POST"), "POST")
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)
    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])


def test_password_method_never_sends_the_password_as_a_token(login):
    # sshd's "password" method answers every hidden prompt with the
    # password, the module's token prompt too.  The user's password must
    # not travel to Passage as a refresh token.
    user = login.user("pw")
    issued = login.server.issue()
    mapping = login.user_map(user, issued["sub"])
    module = login.module("prompt", mapping)
    login.write_stack(auth=["auth requisite pam_unix.so",
                            f"auth required {module}"])
    result = ssh_password(login.sshd, user, HAS_KEYS, method=PASSWORD)

    assert result.returncode != 0, result
    sent = [entry["refresh_token"] for entry in login.server.log()]
    assert user.password not in sent, login.sshd.syslog_about(user)


def test_token_typed_at_the_prompt_is_exchanged(login):
    # No stored token; with prompt, keyboard-interactive asks the user.
    user = login.user()
    issued = login.server.issue()
    mapping = login.user_map(user, issued["sub"])
    module = login.module("prompt", mapping)
    login.write_stack(auth=["auth requisite pam_unix.so",
                            f"auth required {module}"])
    askpass = Askpass(login.work, [user.password, issued["refresh_token"]])
    options = KBDINT + ("NumberOfPasswordPrompts=1",)
    result = ssh_askpass(login.sshd, user, askpass, PRINT_AUTH, options)

    assert result.returncode == 0, result
    assert len(askpass.prompts()) == 2, askpass.prompts()
    post = only(requests(login.server, "POST"), "POST")
    assert post["refresh_token"] == issued["refresh_token"]
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)
    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])


def test_user_without_token_is_refused_without_a_request(login):
    user = login.user()
    login.write_stack()
    result = ssh_password(login.sshd, user, HAS_KEYS)

    assert result.returncode != 0, result
    assert login.server.log() == []


def test_user_without_token_logs_in_without_keys_with_nouserok(login):
    user = login.user()
    login.write_stack(auth=["auth requisite pam_unix.so",
                            f"auth required {login.module('nouserok')}"])
    result = ssh_password(login.sshd, user, HAS_KEYS)

    assert result.returncode == 0, result
    assert result.value("keys") == "no"
    login.sshd.wait_sessions_closed()
    assert login.server.log() == []


@pytest.mark.parametrize("method", METHODS)
def test_server_failure_refuses_login_and_keeps_the_stored_token(login,
                                                                 method):
    user, issued = login.user_with_token()
    login.server.configure(fail={"status": 503})
    result = login.log_in(method, user, HAS_KEYS)

    assert result.returncode != 0, result
    login.sshd.wait_sessions_closed()
    assert [entry["status"] for entry in login.server.log()] == [503]
    assert read_store(login.store, user) == StoreEntry(
        issued["refresh_token"], [])


def test_publickey_login_without_session_exchange_exchanges_nothing(login):
    # Authentication did not run and the session line does not ask for
    # an exchange: the module stays out of the way.
    user, issued = login.user_with_token()
    login.write_stack()
    result = ssh_publickey(login.sshd, user, login.client_key, HAS_KEYS)

    assert result.returncode == 0, result
    assert result.value("keys") == "no"
    login.sshd.wait_sessions_closed()
    assert login.server.log() == []
    assert read_store(login.store, user).token == issued["refresh_token"]


def test_key_then_password_login_exchanges_once(login):
    # AuthenticationMethods publickey,keyboard-interactive (sshd config of
    # pps-mfa-* users): the auth stack exchanges, and session_exchange on
    # the session line must not exchange a second time.
    user, issued = login.user_with_token("mfa")
    login.write_stack(session_args=["session_exchange"])
    askpass = Askpass(login.work, [user.password])
    options = ("PreferredAuthentications=publickey,keyboard-interactive",
               "IdentitiesOnly=yes", f"IdentityFile={login.client_key}",
               "NumberOfPasswordPrompts=1")
    result = ssh_askpass(login.sshd, user, askpass, PRINT_AUTH, options)

    assert result.returncode == 0, result
    assert len(askpass.prompts()) == 1, askpass.prompts()
    post = only(requests(login.server, "POST"), "POST")
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)


# ---------------------------------------------------------------------------
# Renewal inside the session
# ---------------------------------------------------------------------------

RENEW_IN_SESSION = """\
t=$(keyctl print %user:passage:auth_token) && echo login=$t
sleep 3
echo asked=$(date +%s)
t=$({passage_token}) && echo renewed=$t
"""


def test_passage_token_renews_an_expired_token_in_the_session(login):
    # Auth tokens live 2 s; the session asks for one after 3 s.
    login.server.configure(auth_ttl=2)
    user, issued = login.user_with_token()
    login.write_stack()
    command = RENEW_IN_SESSION.format(
        passage_token=login.work.passage_token)
    result = ssh_password(login.sshd, user, command)

    assert result.returncode == 0, result
    asked = int(result.value("asked"))
    first, second = requests(login.server, "POST")
    # The renewal sent the chain's second token: the login's.
    assert second["refresh_token"] != issued["refresh_token"]
    chain = login.server.tokens()[second["refresh_token"]]["chain"]
    assert chain == issued["chain"]
    login_claims = assert_issued_auth_token(
        login.server, result.value("login"), issued, first)
    renewed = result.value("renewed")
    assert renewed != result.value("login")
    claims = assert_issued_auth_token(login.server, renewed, issued, second)
    assert login_claims["exp"] <= asked < claims["exp"]


def test_logout_revokes_the_token_rotated_inside_the_session(login):
    login.server.configure(auth_ttl=2)
    user, issued = login.user_with_token()
    login.write_stack()
    command = RENEW_IN_SESSION.format(
        passage_token=login.work.passage_token)
    result = ssh_password(login.sshd, user, command)
    assert result.returncode == 0, result

    login.sshd.wait_sessions_closed()
    first, second = requests(login.server, "POST")
    login_refresh = second["refresh_token"]     # what the login held
    assert first["refresh_token"] == issued["refresh_token"]
    assert_revoked_at_logout(login.server, issued["chain"])
    delete = only(requests(login.server, "DELETE"), "DELETE")
    assert delete["refresh_token"] != login_refresh


# ---------------------------------------------------------------------------
# Failed attempts
# ---------------------------------------------------------------------------

def test_wrong_answer_then_right_one_logs_in_with_one_exchange(login):
    user, issued = login.user_with_token()
    login.write_stack()
    askpass = Askpass(login.work, ["wrong-" + secrets.token_hex(8),
                                   user.password])
    options = KBDINT + ("NumberOfPasswordPrompts=2",)
    result = ssh_askpass(login.sshd, user, askpass, PRINT_AUTH, options)

    assert result.returncode == 0, result
    assert len(askpass.prompts()) == 2, askpass.prompts()
    post = only(requests(login.server, "POST"), "POST")
    assert post["refresh_token"] == issued["refresh_token"]
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)


def test_wrong_answer_with_required_unix_does_not_lock_the_user_out(login):
    # "auth required pam_unix.so" goes on after a wrong password, so the
    # module exchanges during the failed attempt.  The next attempt, with
    # the right password, must still log in without sending any token
    # twice.
    user, issued = login.user_with_token()
    login.write_stack(auth=["auth required pam_unix.so",
                            f"auth required {login.module()}"])
    askpass = Askpass(login.work, ["wrong-" + secrets.token_hex(8),
                                   user.password])
    options = KBDINT + ("NumberOfPasswordPrompts=2",)
    result = ssh_askpass(login.sshd, user, askpass, PRINT_AUTH, options)

    assert len(askpass.prompts()) == 2, askpass.prompts()
    posts = requests(login.server, "POST")
    sent = [entry["refresh_token"] for entry in posts]
    assert len(sent) == len(set(sent)), "a refresh token was sent twice"
    assert not any(entry["reuse"] for entry in posts)
    assert result.returncode == 0, \
        f"{result}\n{login.sshd.syslog_about(user)}"


def test_account_denial_puts_the_new_token_back_leased(login):
    user, issued = login.user_with_token()
    login.write_stack(account="pam_deny.so")
    result = ssh_password(login.sshd, user, PRINT_AUTH)

    assert result.returncode != 0, result
    login.sshd.wait_sessions_closed()
    post = only(requests(login.server, "POST"), "POST")
    assert post["refresh_token"] == issued["refresh_token"]
    # The store holds the token the server answered, still valid, under
    # a lease that runs out within the handoff's two minutes from now.
    entry = read_store(login.store, user)
    assert entry.token == newest_token(login.server, issued["chain"])
    assert login.server.tokens()[entry.token]["state"] == "active"
    assert entry.lease[0] == "lease", entry
    assert post["time"] < int(entry.lease[2]) <= time.time() + 120


def test_account_denial_leaves_no_keys_and_no_files(login):
    user, issued = login.user_with_token()
    keys_before = key_count(user.uid)
    login.write_stack(account="pam_deny.so")
    result = ssh_password(login.sshd, user, PRINT_AUTH)

    assert result.returncode != 0, result
    login.sshd.wait_sessions_closed()
    assert requests(login.server, "DELETE") == []
    # No key of the user's anywhere.  Root's keyring may still hold the
    # handoff, unclaimed: like every handoff, it must expire by itself.
    assert key_count(user.uid) == keys_before
    handoffs = [key for key in visible_keys() if key.uid == 0 and
                key.description.startswith("pam_passage:handoff:")]
    assert [key for key in handoffs if key.timeout == "perm"] == []
    leftovers = {path.name for path in login.store.iterdir()}
    assert leftovers - {user.name, f".{user.name}.lock"} == set()


def test_stack_without_pam_keyinit_installs_nothing_and_keeps_token(login):
    # sshd's session keyring is root's: the module must refuse it, and
    # the new refresh token must stay in the store.
    user, issued = login.user_with_token()
    keys_before = key_count(user.uid)
    login.sshd.service.write([
        "auth requisite pam_unix.so",
        f"auth required {login.module()}",
        "account required pam_unix.so",
        "session required pam_unix.so",
        f"session required {login.module()}",
    ])
    result = ssh_password(login.sshd, user, HAS_KEYS)

    assert result.returncode != 0, result
    login.sshd.wait_sessions_closed()
    assert key_count(user.uid) == keys_before
    assert requests(login.server, "DELETE") == []
    entry = read_store(login.store, user)
    assert entry.token == newest_token(login.server, issued["chain"])
    assert login.server.tokens()[entry.token]["state"] == "active"


def test_second_login_of_the_same_user_is_refused_while_first_runs(login):
    # With on_close=revoke one deposited token serves one session.
    user, issued = login.user_with_token()
    login.write_stack()
    first = SshSession(login.sshd, user, PRINT_AUTH + "\necho ready\n"
                       "read line\n" + HAS_KEYS)
    try:
        first.read_until("ready")
        second = ssh_password(login.sshd, user, PRINT_AUTH)
        first.send("go on")
        first_result = first.finish()
    finally:
        first.kill()

    assert second.returncode != 0, second
    assert first_result.returncode == 0, first_result
    assert first_result.value("keys") == "yes"
    only(requests(login.server, "POST"), "POST")
    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])


def test_killed_client_still_revokes_when_sshd_ends_the_session(login):
    user, issued = login.user_with_token()
    login.write_stack()
    # The command ends with its input, when sshd closes the session.
    session = SshSession(login.sshd, user, "echo ready\nread line")
    try:
        session.read_until("ready")
    finally:
        session.kill()

    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])


def test_on_close_keep_puts_the_session_token_back_in_the_store(login):
    user, issued = login.user_with_token()
    login.write_stack(session_args=["on_close=keep"])
    result = ssh_password(login.sshd, user, "true")
    assert result.returncode == 0, result

    login.sshd.wait_sessions_closed()
    assert requests(login.server, "DELETE") == []
    entry = read_store(login.store, user)
    assert entry == StoreEntry(newest_token(login.server, issued["chain"]),
                               [])
    assert login.server.tokens()[entry.token]["state"] == "active"


def test_user_revoking_in_session_leaves_logout_quiet(login):
    # passage-token revoke ends the Passage session early; logout then
    # has nothing left to revoke, which is no error.
    user, issued = login.user_with_token()
    mark = login.sshd.syslog_mark()
    login.write_stack()
    command = f"{login.work.passage_token} revoke && {HAS_KEYS}"
    result = ssh_password(login.sshd, user, command)

    assert result.returncode == 0, result
    assert result.value("keys") == "no"
    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])
    lines = module_lines(login.sshd.syslog_since(mark))
    assert [str(line) for line in lines if line.severity <= 4] == []


# ---------------------------------------------------------------------------
# Isolation
# ---------------------------------------------------------------------------

SHOW_AND_PROBE = """\
t=$(keyctl print %user:passage:auth_token) && echo auth=$t
echo mine=$(keyctl id @s) \
$(keyctl search @s user passage:auth_token) \
$(keyctl search @s user passage:refresh_token)
echo ready
read ring keys
if out=$(keyctl list "$ring" 2>&1); then echo "listed=$out"
else echo "refused=$ring $out"; fi
for k in $keys; do
    if out=$(keyctl print "$k" 2>&1); then echo "read=$k $out"
    else echo "refused=$k $out"; fi
done
"""


def test_two_users_logged_in_at_once_cannot_read_each_others_keys(login):
    login.write_stack()
    users = [login.user_with_token() for _ in range(2)]
    sessions = []
    try:
        for user, _ in users:
            session = SshSession(login.sshd, user, SHOW_AND_PROBE)
            sessions.append(session)
            session.read_until("ready")
        # Both are logged in now; each probes the other's keys.
        mine = [re.search(r"^mine=(.*)$", s.output.decode(), re.M)[1]
                for s in sessions]
        sessions[0].send(mine[1])
        sessions[1].send(mine[0])
        results = [session.finish() for session in sessions]
    finally:
        for session in sessions:
            session.kill()

    for (user, issued), result, theirs in zip(users, results,
                                              reversed(results)):
        assert result.returncode == 0, result
        claims = login.server.claims(result.value("auth"))
        assert claims["sub"] == issued["sub"]
        assert theirs.value("auth") not in result.stdout
        assert result.values("listed") == [] and \
            result.values("read") == [], result
        refused = result.values("refused")
        assert len(refused) == 3, result
        assert all("Permission denied" in line for line in refused), result


def test_handoff_reference_is_not_in_the_user_environment(login):
    user, issued = login.user_with_token()
    login.write_stack()
    result = ssh_password(login.sshd, user, PRINT_AUTH + "\n"
                          "tr '\\0' '\\n' < /proc/$$/environ")

    assert result.returncode == 0, result
    environment = result.stdout.splitlines()
    # The environment was read, and the login did get its tokens.
    assert f"USER={user.name}" in environment, result
    assert result.value("auth")
    assert not [line for line in environment
                if line.startswith("PAM_PASSAGE_HANDOFF")], result
    login.sshd.wait_sessions_closed()
    for token in login.server.tokens():
        assert token not in "\n".join(environment)


# ---------------------------------------------------------------------------
# sshd's call pattern and the logs
# ---------------------------------------------------------------------------

SSHD_CALLS = ("PAM: establishing credentials", "PAM: opening session",
              "PAM: establishing credentials", "PAM: closing session",
              "PAM: deleting credentials")


@pytest.mark.parametrize("method", METHODS)
def test_clean_login_and_logout_log_no_module_errors(login, method):
    user, issued = login.user_with_token()
    mark = login.sshd.syslog_mark()
    offset = login.sshd.log_size()
    result = login.log_in(method, user, PRINT_AUTH)
    assert result.returncode == 0, result
    login.sshd.wait_sessions_closed()

    sshd_log = login.sshd.log_text(offset)
    # sshd did call setcred twice, then close_session and DELETE_CRED...
    calls = re.findall("|".join(map(re.escape, set(SSHD_CALLS))), sshd_log)
    assert calls == list(SSHD_CALLS), calls
    # ...and neither sshd nor the module complained.
    complaints = re.findall(r"^(?:error|fatal):.*|^.*PAM: pam_\w+\(\):.*",
                            sshd_log, re.M)
    assert complaints == []
    lines = module_lines(login.sshd.syslog_since(mark))
    assert lines, "no line of the module's was caught"
    assert [str(line) for line in lines if line.severity <= 4] == []


@pytest.mark.parametrize("method", METHODS)
def test_tokens_stay_out_of_the_logs(login, method):
    user, issued = login.user_with_token()
    mark = login.sshd.syslog_mark()
    offset = login.sshd.log_size()
    result = login.log_in(method, user, PRINT_AUTH)
    assert result.returncode == 0, result
    login.sshd.wait_sessions_closed()

    logs = login.sshd.log_text(offset) + "\n".join(
        line.text for line in login.sshd.syslog_since(mark))
    secrets_seen = [result.value("auth"), *login.server.tokens()]
    assert [token for token in secrets_seen if token in logs] == []


# ---------------------------------------------------------------------------
# The examples under conf/
# ---------------------------------------------------------------------------

# The keys of the configuration file.
CONFIG_KEYS = {"app_id", "api_url", "store", "on_close", "ca_file",
               "connect_timeout", "timeout", "prompt", "use_first_pass",
               "try_first_pass", "nouserok", "session_exchange", "proxy",
               "debug", "user_map"}
SAMPLE_LINE = re.compile(r"#(\w+) =(?: (.*))?")


def test_sample_config_shows_every_option_commented_out():
    sample = (CONF / "pam_passage.conf").read_text().splitlines()
    active = [line for line in sample if line and not line.startswith("#")]
    shown = {match[1] for match in map(SAMPLE_LINE.fullmatch, sample)
             if match}
    assert active == []
    # config= is a module argument naming this very file.
    assert shown == CONFIG_KEYS


def example_config(login):
    """conf/pam_passage.conf with its defaults switched on, for a test.

    The lines that must point at the test server and the test's store
    get the test's values; the rest are uncommented as they stand.
    """
    ours = {"app_id": APP_ID, "api_url": login.server.url,
            "ca_file": login.work.ca_file, "store": f"{login.store}/%u"}
    lines = []
    for line in (CONF / "pam_passage.conf").read_text().splitlines():
        match = SAMPLE_LINE.fullmatch(line)
        if match and match[1] in ours:
            line = f"{match[1]} = {ours[match[1]]}"
        elif match and match[2]:
            line = line[1:]
        lines.append(line)
    path = login.work.private_dir("example") / "pam_passage.conf"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    # Never the real Passage: only the test server may be asked.
    assert f"api_url = {login.server.url}" in lines
    return path


def example_stack(login, name, config):
    """conf/NAME with the built module and the test's configuration."""
    stack = []
    for line in (CONF / name).read_text().splitlines():
        if not line.startswith("#"):
            line = line.replace("pam_passage.so",
                                f"{login.work.module} config={config}")
        stack.append(line)
    return stack


@pytest.mark.skipif(not Path("/etc/pam.d/common-auth").exists(),
                    reason="the examples include Debian's common-* files")
@pytest.mark.parametrize("name, method", [
    ("sshd-keyboard-interactive.pam", "keyboard-interactive"),
    ("sshd-publickey.pam", "publickey")])
def test_example_stack_logs_in_and_revokes_at_logout(login, name, method):
    user, issued = login.user_with_token()
    stack = example_stack(login, name, example_config(login))
    result = login.log_in(method, user, PRINT_AUTH, stack)

    assert result.returncode == 0, result
    post = only(requests(login.server, "POST"), "POST")
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)
    login.sshd.wait_sessions_closed()
    assert_revoked_at_logout(login.server, issued["chain"])


@pytest.mark.skipif(not Path("/etc/pam.d/common-auth").exists(),
                    reason="the examples include Debian's common-* files")
@pytest.mark.parametrize("name, method", [
    ("sshd-keyboard-interactive.pam", "keyboard-interactive"),
    ("sshd-publickey.pam", "publickey")])
def test_example_stack_ignores_handoff_set_in_user_pam_environment(
        login, name, method):
    # Debian's stack reads ~/.pam_environment (pam_env user_readenv=1): a
    # user can set PAM variables there, the handoff reference too.
    user, issued = login.user_with_token()
    pam_environment = user.home / ".pam_environment"
    pam_environment.write_text(
        f"PAM_PASSAGE_HANDOFF OVERRIDE={secrets.token_hex(16)}\n")
    os.chown(pam_environment, user.uid, user.gid)
    stack = example_stack(login, name, example_config(login))
    result = login.log_in(method, user, PRINT_AUTH, stack)

    assert result.returncode == 0, \
        f"{result}\n{login.sshd.syslog_about(user)}"
    post = only(requests(login.server, "POST"), "POST")
    assert_issued_auth_token(login.server, result.value("auth"), issued,
                             post)


def test_example_sshd_config_sets_what_both_styles_need(work):
    host_key = work.private_dir("sshd-t") / "host_key"
    generate_key(host_key)
    config = host_key.with_name("sshd_config")
    config.write_text((CONF / "sshd_config.passage").read_text() +
                      f"HostKey {host_key}\n")
    done = run([str(SSHD), "-T", "-f", str(config)])

    assert done.returncode == 0, done.stderr
    effective = dict(line.split(" ", 1)
                     for line in done.stdout.splitlines() if " " in line)
    assert effective["usepam"] == "yes"
    assert effective["kbdinteractiveauthentication"] == "yes"
    assert effective["passwordauthentication"] == "no"
    assert effective["pubkeyauthentication"] == "yes"

"""passage-token (issue #4): print, status, store, remove and revoke.

Sessions are real ones: pam-driver opens them through libpam, with
pam_keyinit and pam_passage, and passage-token runs inside them as the
user in run: steps (see pamtest.py).  A run: step keeps what
passage-token wrote and its exit status in files of a scratch directory
that only the test user (and root) can reach; the test reads them once
the transaction is over.

The reference is the test server: the tokens it issued, the tokens it
holds and the requests it logged.  Exit statuses are the ones documented
in man/passage-token.1.
"""

import os
import pty
import re
import select
import shlex
import shutil
import socket
import subprocess
import tempfile
import termios
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pamtest import (  # noqa: F401  (some names are fixtures)
    COMMAND_TIMEOUT, DRIVER_TIMEOUT, PASSAGE_TOKEN, Meeting,
    clean_environment, home_pam, home_user, keyctl_step, pam, run_driver,
    test_user)

ROOT = Path(__file__).resolve().parent.parent
PT = str(PASSAGE_TOKEN)
SUCCESS = "PAM_SUCCESS"

# Exit statuses of passage-token(1).
EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_NO_TOKENS = 3
EXIT_UNREACHABLE = 4
EXIT_REJECTED = 5
EXIT_PERMISSION = 6
EXIT_EXPIRED = 7
EXIT_EXISTS = 8

AUTH_KEY = "passage:auth_token"
REFRESH_KEY = "passage:refresh_token"
READ_AUTH = keyctl_step("print", f"%user:{AUTH_KEY}")
READ_REFRESH = keyctl_step("print", f"%user:{REFRESH_KEY}")

# Below the renewal margin of 30 s: passage-token renews at once.
STALE_AUTH_TTL = 20
# The kernel drops the auth key at the JWT's exp; the step then waits
# past it.
SHORT_AUTH_TTL = 2
WAIT_PAST_SHORT_TTL = "run:/bin/sleep 3"

# Logins of the race test: each is one more chance for both processes
# to find the token stale at the same moment.
RACE_ROUNDS = 4

# A zone of the test's own, 5h30 east of UTC, given as TZ: a time shown
# in it is local time, not UTC nor the machine's zone.
TEST_TZ = "PPT-5:30"
TEST_TZ_OFFSET = timezone(timedelta(hours=5, minutes=30))

TOKEN_MAX = 4096


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

@pytest.fixture
def scratch(test_user):
    """A directory under /tmp of the test user's own, mode 0700.

    pytest's own temporary directories are root's, out of the user's
    reach; passage-token runs as the user in a session.
    """
    directory = Path(tempfile.mkdtemp(prefix="ppt-token-", dir="/tmp"))
    os.chown(directory, test_user.uid, test_user.gid)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def upam(pam, scratch, passage_server):
    """pam, with a CA file the user can read.

    The module leaves ca_file= in the session keyring for passage-token,
    which runs as the user: the CA must be readable by the user.
    """
    ca_copy = scratch / "ca.pem"
    shutil.copyfile(passage_server.ca_file, ca_copy)
    os.chmod(ca_copy, 0o644)
    pam.write_config(ca_file=ca_copy)
    return pam


@pytest.fixture
def shared_dir():
    """A root-owned directory under /tmp that every user may traverse.

    For configuration files that a user's passage-token must read.
    """
    directory = Path(tempfile.mkdtemp(prefix="ppt-conf-", dir="/tmp"))
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# ---------------------------------------------------------------------------
# Running passage-token
# ---------------------------------------------------------------------------

@dataclass
class Outcome:
    rc: int
    out: str
    err: str

    def __str__(self):
        return (f"exit {self.rc}\n--- stdout\n{self.out}"
                f"--- stderr\n{self.err}")

    __repr__ = __str__


def run_pt(*args, input_text="", user=None):
    """passage-token run from the test, as root or as user."""
    as_user = {}
    if user is not None:
        as_user = {"user": user.uid, "group": user.gid, "extra_groups": []}
    done = subprocess.run([PT, *map(str, args)], input=input_text,
                          capture_output=True, text=True, cwd="/",
                          env=clean_environment(), timeout=COMMAND_TIMEOUT,
                          **as_user)
    return Outcome(done.returncode, done.stdout, done.stderr)


class Capture:
    """passage-token run by a run: step, its results kept in files.

    .command is the shell command, .step the run: step; .outcome() reads
    what it left once the transaction is over.
    """

    def __init__(self, directory, name, *args, prefix=""):
        self.base = directory / name
        words = " ".join(shlex.quote(str(a)) for a in (PT, *args))
        self.command = (f"{prefix}{words} >{self.base}.out "
                        f"2>{self.base}.err; echo $? >{self.base}.rc")
        self.step = "run:" + self.command

    def outcome(self):
        def read(suffix):
            path = Path(f"{self.base}.{suffix}")
            assert path.exists(), f"the step never ran: no {path}"
            return path.read_text()
        return Outcome(int(read("rc")), read("out"), read("err"))


def race_step(first, second):
    """One run: step starting both captures together, waiting for both."""
    return f"run:( {first.command} ) & ( {second.command} ) & wait"


def paused_login(pam, directory, before, action, after):
    """A login that stops inside the session while the test calls action.

    The steps before run first; then a run: step waits (bounded) until
    action() has returned; then the steps after run.
    """
    meeting_dir = directory / f"meet-{time.monotonic_ns()}"
    meeting_dir.mkdir(mode=0o700)
    os.chown(meeting_dir, pam.user.uid, pam.user.gid)
    meeting = Meeting(meeting_dir)
    with ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(pam.login, *before, meeting.step, *after)
        try:
            meeting.wait_until_ready()
            action()
        finally:
            meeting.go()
        return login.result(timeout=DRIVER_TIMEOUT)


def bare_session(pam, *steps):
    """A real session with a keyring of its own but no pam_passage."""
    service = pam.service + "-bare"
    (pam.confdir / service).write_text(
        "session optional pam_keyinit.so force revoke\n")
    return run_driver(pam.confdir, service, pam.user.name,
                      ("open", *steps, "close"))


def readable_config(pam, directory, **changes):
    """A copy of pam's configuration file the user can read.

    Owned by root, mode 0644, in a directory the user can reach; changes
    as in PamSetup.write_config, applied to the copy only.
    """
    settings = dict(pam.settings)
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = str(value)
    path = directory / f"conf-{time.monotonic_ns()}"
    path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    os.chmod(path, 0o644)
    return path


# ---------------------------------------------------------------------------
# What the server saw and issued
# ---------------------------------------------------------------------------

def api_calls(server):
    """[(method, refresh token, status)] of the Passage API requests."""
    return [(entry["method"], entry["refresh_token"], entry["status"])
            for entry in server.log()]


def chain_of(server, issued):
    """The refresh tokens of issued's chain, oldest first."""
    chain = [token for token, info in server.tokens().items()
             if info["chain"] == issued["chain"]]
    assert chain[0] == issued["refresh_token"]
    return chain


def assert_issued(server, auth_token, issued):
    """auth_token is a JWT the server signed for issued's user."""
    claims = server.claims(auth_token)  # raises unless the server signed
    assert claims["sub"] == issued["sub"]
    assert claims["aud"] == "test-app"
    return claims


# ---------------------------------------------------------------------------
# What passage-token printed
# ---------------------------------------------------------------------------

def step_result(run, step, occurrence=0):
    """(exit status, lines) of the occurrence-th run of the run: step."""
    found = [s for s in run.steps if s.name == step]
    assert len(found) > occurrence, f"{step} #{occurrence} not in:\n{run}"
    return found[occurrence].result, found[occurrence].output


def output_line(run, step, occurrence=0):
    """The single line a run: step printed."""
    status, lines = step_result(run, step, occurrence)
    assert status == 0 and len(lines) == 1, f"{step}:\n{run}"
    return lines[0]


def printed_token(outcome):
    """The token print wrote: one line on stdout, nothing on stderr."""
    assert outcome.rc == EXIT_OK, outcome
    assert outcome.err == "", outcome
    assert outcome.out.endswith("\n") and outcome.out.count("\n") == 1, (
        outcome)
    return outcome.out[:-1]


def assert_one_line_error(outcome, rc, *words):
    """Exit rc, nothing on stdout, one stderr line naming the cause."""
    assert outcome.rc == rc, outcome
    assert outcome.out == "", outcome
    lines = outcome.err.splitlines()
    assert len(lines) == 1, f"expected one error line:\n{outcome}"
    assert lines[0].startswith("passage-token: "), outcome
    for word in words:
        assert word.lower() in lines[0].lower(), (
            f"{word!r} not named:\n{outcome}")


def assert_no_token(outcome, *tokens):
    for token in tokens:
        assert token not in outcome.out and token not in outcome.err, (
            f"a token was shown:\n{outcome}")
        # Not even the JWT's signature or the refresh token's bulk.
        tail = token.rsplit(".", 1)[-1][-16:]
        assert tail not in outcome.out + outcome.err, outcome


def line_with(text, needle):
    found = [line for line in text.splitlines() if needle in line]
    assert len(found) == 1, f"{needle!r} in one line of:\n{text}"
    return found[0]


def shown_span(line):
    """Seconds of an "in 16m 39s" (or "in 39s") span."""
    match = re.search(r"\bin (?:(\d+)m )?(\d+)s\b", line)
    assert match, f"no 'in Nm Ns' span in {line!r}"
    return int(match.group(1) or 0) * 60 + int(match.group(2))


def assert_expiry_shown(text, expires, before, after):
    """A line shows expires in TEST_TZ and as a span from now.

    The span was computed between before and after: one second of slack
    each way for whole seconds counted at different moments.
    """
    local = datetime.fromtimestamp(expires, TEST_TZ_OFFSET)
    line = line_with(text, local.strftime("%Y-%m-%d %H:%M:%S"))
    left = shown_span(line)
    assert expires - after - 1 <= left <= expires - before + 1, (
        f"span {left}s in {line!r} does not fit an expiry at {expires}")


# ---------------------------------------------------------------------------
# print
# ---------------------------------------------------------------------------

def test_print_in_session_shows_auth_token_issued_at_login(
        upam, passage_server, scratch):
    issued = upam.deposit_new()
    show = Capture(scratch, "print")

    run = upam.login("auth", "open", READ_AUTH, show.step, "close")

    assert run.code("open") == SUCCESS, run
    token = printed_token(show.outcome())
    assert token == output_line(run, READ_AUTH)
    assert_issued(passage_server, token, issued)


def test_print_to_a_full_output_is_a_failure(upam, passage_server,
                                             scratch):
    """A script must not take an empty read for a token."""
    upam.deposit_new()
    base = scratch / "full"
    step = (f"run:{PT} >/dev/full 2>{base}.err; echo $? >{base}.rc")

    run = upam.login("auth", "open", step, "close")

    assert run.code("open") == SUCCESS, run
    assert Path(f"{base}.rc").read_text().strip() == str(EXIT_OTHER)
    error = Path(f"{base}.err").read_text()
    assert error.count("\n") == 1 and "write" in error, error


def test_print_is_the_default_command(upam, passage_server, scratch):
    upam.deposit_new()
    named = Capture(scratch, "named", "print")
    default = Capture(scratch, "default")

    run = upam.login("auth", "open", named.step, default.step, "close")

    assert run.code("open") == SUCCESS, run
    assert printed_token(default.outcome()) == printed_token(
        named.outcome())


def test_print_of_valid_token_sends_no_request(upam, passage_server,
                                               scratch):
    issued = upam.deposit_new()
    show = Capture(scratch, "print")

    run = upam.login("auth", "open", show.step, "close")

    printed_token(show.outcome())
    first, second = chain_of(passage_server, issued)
    # The login's exchange and close's revocation, nothing in between.
    assert api_calls(passage_server) == [("POST", first, 200),
                                         ("DELETE", second, 200)], run


def test_print_renews_token_expiring_within_30_seconds(
        upam, passage_server, scratch):
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    issued = upam.deposit_new()
    show = Capture(scratch, "print")

    run = upam.login("auth", "open", READ_AUTH, show.step, READ_AUTH,
                     READ_REFRESH, "close")

    assert run.code("open") == SUCCESS, run
    token = printed_token(show.outcome())
    assert token != output_line(run, READ_AUTH)
    assert_issued(passage_server, token, issued)
    first, second, third = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200), ("DELETE", third, 200)]
    # The keyring now holds the renewed pair.
    assert output_line(run, READ_AUTH, 1) == token
    assert output_line(run, READ_REFRESH) == third


def test_print_renews_expired_token(upam, passage_server, scratch):
    passage_server.configure(auth_ttl=SHORT_AUTH_TTL)
    issued = upam.deposit_new()
    show = Capture(scratch, "print")

    run = upam.login("auth", "open", READ_AUTH, WAIT_PAST_SHORT_TTL,
                     show.step, "close")

    assert run.code("open") == SUCCESS, run
    token = printed_token(show.outcome())
    login_claims = passage_server.claims(output_line(run, READ_AUTH))
    claims = assert_issued(passage_server, token, issued)
    assert claims["jti"] != login_claims["jti"]
    first, second, third = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200), ("DELETE", third, 200)]


def test_concurrent_prints_renew_once_and_print_same_token(
        upam, passage_server, scratch):
    for round_ in range(RACE_ROUNDS):
        # Stale at login; the renewal's token then stays valid, so the
        # process that waited for the lock must find it and keep it.
        passage_server.configure(auth_ttl=STALE_AUTH_TTL)
        issued = upam.deposit_new()
        first = Capture(scratch, f"r{round_}-a")
        second = Capture(scratch, f"r{round_}-b")

        run = paused_login(
            upam, scratch, ("auth", "open"),
            lambda: passage_server.configure(auth_ttl=300),
            (race_step(first, second), READ_AUTH, READ_REFRESH, "close"))

        assert run.code("open") == SUCCESS, run
        token = printed_token(first.outcome())
        assert printed_token(second.outcome()) == token, f"round {round_}"
        assert_issued(passage_server, token, issued)
        deposited, session, renewed = chain_of(passage_server, issued)
        posts = [call for call in api_calls(passage_server)
                 if call[0] == "POST" and call[1] == session]
        assert posts == [("POST", session, 200)], f"round {round_}"
        assert output_line(run, READ_AUTH) == token
        assert output_line(run, READ_REFRESH) == renewed
    assert not any(entry["reuse"] for entry in passage_server.log())


def test_print_without_session_tokens_exits_3(upam, scratch):
    show = Capture(scratch, "print")

    run = bare_session(upam, show.step)

    assert run.code("open") == SUCCESS, run
    assert_one_line_error(show.outcome(), EXIT_NO_TOKENS, "no", "token")


@pytest.mark.parametrize("status", [503, 429])
def test_print_when_server_fails_exits_4_and_keeps_keys(
        upam, passage_server, scratch, status):
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    issued = upam.deposit_new()
    show = Capture(scratch, "print")

    run = paused_login(
        upam, scratch, ("auth", "open"),
        lambda: passage_server.configure(fail={"status": status},
                                         fail_count=1),
        (show.step, READ_REFRESH, "close"))

    assert_one_line_error(show.outcome(), EXIT_UNREACHABLE, str(status))
    first, second = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, status),
        ("DELETE", second, 200)]
    assert output_line(run, READ_REFRESH) == second


def test_print_with_unreachable_server_exits_4(upam, passage_server,
                                               scratch, closed_port):
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    upam.deposit_new()
    config = readable_config(
        upam, scratch, api_url=f"https://127.0.0.1:{closed_port}/v1",
        connect_timeout=2, timeout=4)
    show = Capture(scratch, "print", "--config", config)

    run = upam.login("auth", "open", show.step, "close")

    assert run.code("open") == SUCCESS, run
    assert_one_line_error(show.outcome(), EXIT_UNREACHABLE, "connect")


def renew_refused(pam, server, directory, status, *after):
    """A login whose session's first renewal the server refuses."""
    server.configure(auth_ttl=STALE_AUTH_TTL)
    issued = pam.deposit_new()
    show = Capture(directory, "print")
    run = paused_login(
        pam, directory, ("auth", "open"),
        lambda: server.configure(fail={"status": status}, fail_count=1),
        (show.step, *after, "close"))
    assert run.code("open") == SUCCESS, run
    return issued, show.outcome(), run


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_print_of_rejected_token_exits_5(upam, passage_server, scratch,
                                         status):
    _, outcome, _ = renew_refused(upam, passage_server, scratch, status)

    assert outcome.rc == EXIT_REJECTED, outcome
    assert outcome.out == "", outcome
    assert f"HTTP {status}" in outcome.err, outcome


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_print_of_rejected_token_reports_one_line(upam, passage_server,
                                                  scratch, status):
    _, outcome, _ = renew_refused(upam, passage_server, scratch, status)

    assert_one_line_error(outcome, EXIT_REJECTED, str(status))


def test_print_of_dead_token_drops_keys_and_close_sends_nothing(
        upam, passage_server, scratch):
    # 401: the refresh token is dead; the session's keys are worthless.
    issued, outcome, run = renew_refused(upam, passage_server, scratch,
                                         401, READ_AUTH, READ_REFRESH)

    assert outcome.rc == EXIT_REJECTED, outcome
    assert step_result(run, READ_AUTH)[0] != 0, run
    assert step_result(run, READ_REFRESH)[0] != 0, run
    assert run.code("close") == SUCCESS, run
    first, second = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 401)]


def test_print_with_debug_writes_no_token_to_stderr(upam, passage_server,
                                                    scratch):
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    upam.deposit_new()
    show = Capture(scratch, "print", "--debug")

    run = upam.login("auth", "open", READ_AUTH, READ_REFRESH, show.step,
                     READ_REFRESH, "close")

    outcome = show.outcome()
    assert outcome.rc == EXIT_OK, outcome
    for token in (output_line(run, READ_AUTH),
                  output_line(run, READ_REFRESH),
                  output_line(run, READ_REFRESH, 1)):
        assert token not in outcome.err, outcome


def test_renewal_lock_is_in_a_directory_only_the_user_can_use(
        upam, passage_server, scratch, test_user):
    if Path(f"/run/user/{test_user.uid}").exists():
        pytest.skip("the user has /run/user/UID: the lock goes there")
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    upam.deposit_new()
    show = Capture(scratch, "print")

    upam.login("auth", "open", show.step, "close")

    assert show.outcome().rc == EXIT_OK, show.outcome()
    # Made by the module at session open, in /run where only root writes.
    directory = Path(f"/run/pam_passage/{test_user.uid}")
    info = directory.lstat()
    assert info.st_uid == test_user.uid
    assert oct(info.st_mode & 0o7777) == oct(0o700)
    lock = (directory / "passage-token.lock").lstat()
    assert lock.st_uid == test_user.uid and lock.st_mode & 0o077 == 0


def test_squatted_tmp_lock_directory_does_not_stop_renewal(
        upam, passage_server, scratch, test_user):
    """Anyone can make /tmp/passage-token-UID first: the lock is not
    there in a session the module opened."""
    if Path(f"/run/user/{test_user.uid}").exists():
        pytest.skip("the user has /run/user/UID: the lock goes there")
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    issued = upam.deposit_new()
    directory = Path(f"/tmp/passage-token-{test_user.uid}")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    os.chmod(directory, 0o777)
    show = Capture(scratch, "print")
    try:
        upam.login("auth", "open", show.step, "close")
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    assert show.outcome().rc == EXIT_OK, show.outcome()
    first, second, third = chain_of(passage_server, issued)
    assert [call[:2] for call in api_calls(passage_server)] == [
        ("POST", first), ("POST", second), ("DELETE", third)]


# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------

def test_status_shows_user_app_api_and_expiry_times(upam, passage_server,
                                                    scratch):
    passage_server.configure(auth_ttl=1000, refresh_ttl=3000)
    issued = upam.deposit_new()
    show = Capture(scratch, "status", "status", prefix=f"TZ={TEST_TZ} ")

    before = time.time()
    run = upam.login("auth", "open", READ_AUTH, show.step, "close")
    after = time.time()

    assert run.code("open") == SUCCESS, run
    outcome = show.outcome()
    assert outcome.rc == EXIT_OK and outcome.err == "", outcome
    assert issued["sub"] in outcome.out
    assert "test-app" in outcome.out
    assert passage_server.url in outcome.out
    claims = passage_server.claims(output_line(run, READ_AUTH))
    assert_expiry_shown(outcome.out, claims["exp"], before, after)
    session_token = chain_of(passage_server, issued)[1]
    refresh_expires = passage_server.tokens()[session_token]["expires"]
    assert_expiry_shown(outcome.out, refresh_expires, before, after)


def test_status_never_shows_a_token(upam, passage_server, scratch):
    upam.deposit_new()
    show = Capture(scratch, "status", "--debug", "status")
    plain = Capture(scratch, "plain", "status")

    run = upam.login("auth", "open", READ_AUTH, READ_REFRESH, show.step,
                     plain.step, "close")

    assert run.code("open") == SUCCESS, run
    tokens = (output_line(run, READ_AUTH), output_line(run, READ_REFRESH))
    for outcome in (show.outcome(), plain.outcome()):
        assert outcome.rc == EXIT_OK, outcome
        assert_no_token(outcome, *tokens)


def test_status_of_expired_auth_token_exits_7(upam, passage_server,
                                              scratch):
    passage_server.configure(auth_ttl=SHORT_AUTH_TTL)
    upam.deposit_new()
    show = Capture(scratch, "status", "status")

    run = upam.login("auth", "open", READ_AUTH, READ_REFRESH,
                     WAIT_PAST_SHORT_TTL, show.step, "close")

    assert run.code("open") == SUCCESS, run
    outcome = show.outcome()
    assert outcome.rc == EXIT_EXPIRED, outcome
    assert "expired" in outcome.out
    assert_no_token(outcome, output_line(run, READ_AUTH),
                    output_line(run, READ_REFRESH))
    # Status only looks: nothing was renewed.
    assert [call[0] for call in api_calls(passage_server)] == [
        "POST", "DELETE"]


def test_status_without_session_tokens_exits_3(upam, scratch):
    show = Capture(scratch, "status", "status")

    run = bare_session(upam, show.step)

    assert run.code("open") == SUCCESS, run
    assert_one_line_error(show.outcome(), EXIT_NO_TOKENS, "no", "token")


# ---------------------------------------------------------------------------
# store
# ---------------------------------------------------------------------------

def store(pam, token_text, *options, user=None):
    """passage-token store [OPTIONS] USER, token_text on stdin."""
    return run_pt("--config", pam.config_file, "store", *options,
                  pam.user.name, input_text=token_text, user=user)


def test_store_writes_entry_mode_0600(pam, passage_server):
    token = passage_server.issue()["refresh_token"]

    done = store(pam, token + "\n")

    assert done.rc == EXIT_OK and done.out == "", done
    assert pam.entry() == token + "\n"
    info = pam.entry_path.lstat()
    assert oct(info.st_mode & 0o7777) == oct(0o600)
    assert (info.st_uid, info.st_gid) == (0, 0)


def test_store_entry_is_used_by_next_login(pam, passage_server):
    issued = passage_server.issue()
    assert store(pam, issued["refresh_token"]).rc == EXIT_OK

    run = pam.login("auth", "open", "close")

    assert run.code("open") == SUCCESS, run
    assert api_calls(passage_server)[0] == (
        "POST", issued["refresh_token"], 200)


def test_store_refuses_token_on_command_line(pam, passage_server):
    token = passage_server.issue()["refresh_token"]

    done = run_pt("--config", pam.config_file, "store", pam.user.name,
                  token, input_text="")

    assert_one_line_error(done, EXIT_USAGE, "command line")
    assert pam.entry() is None
    assert not any(token in path.read_text()
                   for path in pam.store_dir.iterdir() if path.is_file())


@pytest.mark.parametrize("text", [
    "",
    "\n",
    "A" * (TOKEN_MAX + 1),
    "A" * (TOKEN_MAX + 1) + "\n",
    "rt_with\x01control",
    "rt_with\x7fdelete",
    "rt_with\x00nul",
    "first\nsecond\n",
], ids=["empty", "empty-line", "4097-bytes", "4097-bytes-line",
        "control", "delete", "nul", "two-lines"])
def test_store_refuses_malformed_token(pam, text):
    done = store(pam, text)

    assert_one_line_error(done, EXIT_USAGE, "standard input")
    assert pam.entry() is None


def test_store_accepts_token_of_4096_bytes(pam):
    token = "A" * TOKEN_MAX

    done = store(pam, token + "\n")

    assert done.rc == EXIT_OK, done
    assert pam.entry() == token + "\n"


def test_store_refuses_input_longer_than_a_token(pam):
    # 4096 bytes, a CRLF line end, then more: not one token of 4096.
    done = store(pam, "A" * TOKEN_MAX + "\r\nsecond line\n")

    assert_one_line_error(done, EXIT_USAGE, "standard input")
    assert pam.entry() is None


def test_store_without_force_keeps_existing_entry(pam, passage_server):
    old = pam.deposit_new()["refresh_token"]
    new = passage_server.issue()["refresh_token"]

    done = store(pam, new)

    assert_one_line_error(done, EXIT_EXISTS, "--force")
    assert pam.entry() == old + "\n"


def test_store_with_force_replaces_existing_entry(pam, passage_server):
    pam.deposit_new()
    new = passage_server.issue()["refresh_token"]

    done = store(pam, new, "--force")

    assert done.rc == EXIT_OK, done
    assert pam.entry() == new + "\n"
    assert oct(pam.entry_path.lstat().st_mode & 0o7777) == oct(0o600)


@pytest.mark.parametrize("content", ["", "not\x01a token\n"],
                         ids=["empty-file", "control-bytes"])
def test_store_with_force_replaces_malformed_entry(pam, passage_server,
                                                   content):
    # The way out of a damaged entry: the module cannot use it.
    pam.write_entry(content)
    token = passage_server.issue()["refresh_token"]

    done = store(pam, token, "--force")

    assert done.rc == EXIT_OK, done
    assert pam.entry() == token + "\n"


def test_store_refuses_symlinked_entry(pam, passage_server, tmp_path):
    target = tmp_path / "target"
    target.write_text("untouched\n")
    os.chmod(target, 0o600)
    pam.entry_path.symlink_to(target)
    token = passage_server.issue()["refresh_token"]

    done = store(pam, token, "--force")

    assert_one_line_error(done, EXIT_PERMISSION)
    assert target.read_text() == "untouched\n"
    assert pam.entry_path.is_symlink()


def test_store_by_user_for_another_user_is_denied(home_pam, passage_server,
                                                  home_user, test_user,
                                                  shared_dir):
    # A store in home_user's home: the only kind a user may write to.
    token = passage_server.issue()["refresh_token"]
    config = readable_config(home_pam, shared_dir)

    done = run_pt("--config", config, "store", home_user.name,
                  input_text=token, user=test_user)

    assert_one_line_error(done, EXIT_PERMISSION, "another user")
    assert home_pam.entry() is None


def test_store_by_user_in_own_home_store(home_pam, passage_server,
                                         home_user, shared_dir):
    token = passage_server.issue()["refresh_token"]
    config = readable_config(home_pam, shared_dir)

    done = run_pt("--config", config, "store", home_user.name,
                  input_text=token, user=home_user)

    assert done.rc == EXIT_OK, done
    assert home_pam.entry() == token + "\n"
    info = home_pam.entry_path.lstat()
    assert info.st_uid == home_user.uid
    assert oct(info.st_mode & 0o7777) == oct(0o600)


def test_store_by_user_in_root_store_is_denied(pam, passage_server,
                                               test_user, shared_dir):
    token = passage_server.issue()["refresh_token"]
    config = readable_config(pam, shared_dir)

    done = run_pt("--config", config, "store", test_user.name,
                  input_text=token, user=test_user)

    assert_one_line_error(done, EXIT_PERMISSION)
    assert pam.entry() is None


def test_store_for_unknown_user_is_usage_error(pam, passage_server):
    token = passage_server.issue()["refresh_token"]

    done = run_pt("--config", pam.config_file, "store", "ppt-nosuchuser",
                  input_text=token)

    assert_one_line_error(done, EXIT_USAGE, "ppt-nosuchuser")


def test_store_at_terminal_does_not_echo_token(pam, passage_server):
    token = passage_server.issue()["refresh_token"]
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [PT, "--config", str(pam.config_file), "store", pam.user.name],
            stdin=slave, stdout=slave, stderr=slave, cwd="/",
            env=clean_environment(), start_new_session=True)
        # Type only once echo is off: turning it off flushes typed input.
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while termios.tcgetattr(slave)[3] & termios.ECHO:
            assert time.monotonic() < deadline, "echo never went off"
            assert process.poll() is None, "store ended without reading"
            time.sleep(0.02)
        os.write(master, token.encode() + b"\n")
        shown = _read_until_exit(master, process)
    finally:
        os.close(slave)
        os.close(master)

    assert process.returncode == EXIT_OK, shown
    assert token.encode() not in shown
    assert pam.entry() == token + "\n"


def _read_until_exit(master, process):
    """Everything the terminal showed until process ended (bounded)."""
    shown = b""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                shown += os.read(master, 4096)
            except OSError:
                break
        elif process.poll() is not None:
            break
    process.wait(timeout=COMMAND_TIMEOUT)
    return shown


# ---------------------------------------------------------------------------
# remove
# ---------------------------------------------------------------------------

def test_remove_deletes_entry_without_a_request(pam, passage_server):
    pam.deposit_new()

    done = run_pt("--config", pam.config_file, "remove", pam.user.name)

    assert done.rc == EXIT_OK and done.out == "", done
    assert pam.entry() is None
    assert api_calls(passage_server) == []


def test_remove_without_entry_exits_3(pam, passage_server):
    done = run_pt("--config", pam.config_file, "remove", pam.user.name)

    assert_one_line_error(done, EXIT_NO_TOKENS, str(pam.entry_path))


def test_remove_deletes_malformed_entry(pam, passage_server):
    pam.write_entry("not\x01a token\n")

    done = run_pt("--config", pam.config_file, "remove", pam.user.name)

    assert done.rc == EXIT_OK, done
    assert pam.entry() is None


def test_remove_refuses_symlinked_entry(pam, tmp_path):
    target = tmp_path / "target"
    target.write_text("rt_untouched\n")
    os.chmod(target, 0o600)
    pam.entry_path.symlink_to(target)

    done = run_pt("--config", pam.config_file, "remove", pam.user.name)

    assert_one_line_error(done, EXIT_PERMISSION)
    assert target.read_text() == "rt_untouched\n"


def test_remove_revoke_revokes_token_then_deletes_entry(pam,
                                                        passage_server):
    token = pam.deposit_new()["refresh_token"]

    done = run_pt("--config", pam.config_file, "remove", "--revoke",
                  pam.user.name)

    assert done.rc == EXIT_OK, done
    assert api_calls(passage_server) == [("DELETE", token, 200)]
    assert passage_server.tokens()[token]["state"] == "revoked"
    assert pam.entry() is None


def test_remove_revoke_with_server_error_keeps_entry(pam, passage_server):
    token = pam.deposit_new()["refresh_token"]
    passage_server.configure(fail={"status": 503})

    done = run_pt("--config", pam.config_file, "remove", "--revoke",
                  pam.user.name)

    assert_one_line_error(done, EXIT_UNREACHABLE, "503")
    assert api_calls(passage_server) == [("DELETE", token, 503)]
    assert pam.entry() == token + "\n"


def test_remove_revoke_with_server_down_keeps_entry(pam, passage_server,
                                                    closed_port):
    token = pam.deposit_new()["refresh_token"]
    pam.write_config(api_url=f"https://127.0.0.1:{closed_port}/v1",
                     connect_timeout=2, timeout=4)

    done = run_pt("--config", pam.config_file, "remove", "--revoke",
                  pam.user.name)

    assert_one_line_error(done, EXIT_UNREACHABLE, "connect")
    assert pam.entry() == token + "\n"
    assert passage_server.tokens()[token]["state"] == "active"


# ---------------------------------------------------------------------------
# revoke
# ---------------------------------------------------------------------------

def test_revoke_revokes_session_token_and_drops_keys(upam, passage_server,
                                                     scratch):
    issued = upam.deposit_new()
    revoke = Capture(scratch, "revoke", "revoke")

    run = upam.login("auth", "open", revoke.step, READ_AUTH, READ_REFRESH,
                     "close")

    outcome = revoke.outcome()
    assert outcome.rc == EXIT_OK and outcome.out == "", outcome
    first, second = chain_of(passage_server, issued)
    assert api_calls(passage_server)[:2] == [
        ("POST", first, 200), ("DELETE", second, 200)]
    assert passage_server.tokens()[second]["state"] == "revoked"
    # keyctl print fails: the keys are gone from the session keyring.
    assert step_result(run, READ_AUTH)[0] != 0, run
    assert step_result(run, READ_REFRESH)[0] != 0, run


def test_close_after_revoke_sends_nothing_and_succeeds(upam,
                                                       passage_server,
                                                       scratch):
    upam.deposit_new()
    revoke = Capture(scratch, "revoke", "revoke")

    run = upam.login("auth", "open", revoke.step, "close")

    assert revoke.outcome().rc == EXIT_OK, revoke.outcome()
    assert run.code("close") == SUCCESS, run
    assert [call[0] for call in api_calls(passage_server)] == [
        "POST", "DELETE"]


def test_revoke_after_renewal_revokes_renewed_token(upam, passage_server,
                                                    scratch):
    passage_server.configure(auth_ttl=STALE_AUTH_TTL)
    issued = upam.deposit_new()
    show = Capture(scratch, "print")
    revoke = Capture(scratch, "revoke", "revoke")

    run = upam.login("auth", "open", show.step, revoke.step, "close")

    assert run.code("close") == SUCCESS, run
    assert revoke.outcome().rc == EXIT_OK, revoke.outcome()
    first, second, third = chain_of(passage_server, issued)
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("POST", second, 200), ("DELETE", third, 200)]


def test_revoke_without_session_tokens_exits_3(upam, passage_server,
                                               scratch):
    revoke = Capture(scratch, "revoke", "revoke")

    run = bare_session(upam, revoke.step)

    assert run.code("open") == SUCCESS, run
    assert_one_line_error(revoke.outcome(), EXIT_NO_TOKENS, "no", "token")
    assert api_calls(passage_server) == []


def test_revoke_with_server_error_exits_4_and_keeps_keys(
        upam, passage_server, scratch):
    issued = upam.deposit_new()
    revoke = Capture(scratch, "revoke", "revoke")

    run = paused_login(
        upam, scratch, ("auth", "open"),
        lambda: passage_server.configure(fail={"status": 503},
                                         fail_count=1),
        (revoke.step, READ_REFRESH, "close"))

    assert_one_line_error(revoke.outcome(), EXIT_UNREACHABLE, "503")
    first, second = chain_of(passage_server, issued)
    assert output_line(run, READ_REFRESH) == second
    # Close still ends the chain.
    assert api_calls(passage_server) == [
        ("POST", first, 200), ("DELETE", second, 503),
        ("DELETE", second, 200)]


# ---------------------------------------------------------------------------
# Options and usage
# ---------------------------------------------------------------------------

def test_help_prints_usage_on_stdout():
    done = run_pt("--help")

    assert done.rc == EXIT_OK and done.err == "", done
    for command in ("print", "status", "store", "remove", "revoke"):
        assert command in done.out
    assert done.out.startswith("usage: passage-token")


def test_version_prints_the_documented_version():
    # The manual page's header names the release it documents.
    header = (ROOT / "man" / "passage-token.1").read_text().splitlines()[0]
    version = re.search(r'"pam_passage ([0-9.]+)"', header).group(1)

    done = run_pt("--version")

    assert done.rc == EXIT_OK and done.err == "", done
    assert done.out == f"passage-token {version}\n"


@pytest.mark.parametrize("argv, cause", [
    (["frobnicate"], "frobnicate"),
    (["--bogus"], "--bogus"),
    (["--bogus", "status"], "--bogus"),
    (["status", "--bogus"], "--bogus"),
    (["remove", "--force", "root"], "--force"),
    (["store", "--revoke", "root"], "--revoke"),
    (["remove"], "USER"),
    (["status", "extra"], "status"),
], ids=["unknown-command", "unknown-option", "option-before-command",
        "option-after-command", "option-of-other-command",
        "option-of-remove-to-store", "missing-user", "extra-argument"])
def test_bad_usage_exits_2_with_one_line_naming_cause(argv, cause):
    done = run_pt(*argv)

    assert_one_line_error(done, EXIT_USAGE, cause)


def test_missing_config_file_is_usage_error(tmp_path):
    missing = tmp_path / "missing.conf"

    done = run_pt("--config", missing, "remove", "root")

    assert_one_line_error(done, EXIT_USAGE, str(missing))


def test_config_file_writable_by_others_is_refused(pam, passage_server):
    pam.deposit_new()
    os.chmod(pam.config_file, 0o666)

    done = run_pt("--config", pam.config_file, "remove", pam.user.name)

    assert_one_line_error(done, EXIT_PERMISSION, str(pam.config_file))
    assert pam.entry() is not None

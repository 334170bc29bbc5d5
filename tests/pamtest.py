"""Helpers for the PAM integration tests (tests/test_pam.py).

Everything here runs the real module through real libpam with
build/pam-driver, on users, stores and pam.d stacks of the test's own:

  test_user   session fixture: a local user "ppt-XXXXXXXX" made with
              useradd, removed with userdel at the end
  home_user   the same, with a home directory
  pam         a PamSetup for one test: its own store directory (0700),
              configuration file, pam.d directory and service name
  home_pam    the same for home_user, with the store under %h
  meeting     a Meeting: a run: step that waits inside the session until
              the test has done something
  DriverRun   what one pam-driver transaction printed, step by step

The module is always given api_url= and ca_file= of the test server, so
that it never talks to anything but loopback.
"""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
MODULE = BUILD / "pam_passage.so"
DRIVER = BUILD / "pam-driver"
PASSAGE_TOKEN = BUILD / "passage-token"
KEYCTL = shutil.which("keyctl") or "/usr/bin/keyctl"

# Far above the module's own timeouts: a run that takes this long hangs.
DRIVER_TIMEOUT = 90
COMMAND_TIMEOUT = 30

USERADD_TRIES = 5       # /etc/passwd may be locked by a concurrent useradd

# The result every pam-driver step but env and run prints: "STEP CODE".
STEP_LINE = re.compile(r"([a-z-]+) (PAM_[A-Z_]+)")
RUN_LINE = re.compile(r"(.*?)run (-?\d+)")


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: makes users, binds /dev/log, runs PAM")


def require_build():
    missing = [str(p) for p in (MODULE, DRIVER, PASSAGE_TOKEN)
               if not p.exists()]
    if missing:
        pytest.skip(f"not built (run make): {', '.join(missing)}")


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path = Path("/nonexistent")


def _run_account_tool(argv):
    """Run useradd or userdel, retrying while another holds the lock."""
    for attempt in range(USERADD_TRIES):
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
        if done.returncode == 0 or "lock" not in done.stderr:
            return done
        time.sleep(0.5 * (attempt + 1))
    return done


def create_user(home=None):
    """A new local user "ppt-XXXXXXXX", with a home only if home is given."""
    name = "ppt-" + secrets.token_hex(4)
    where = (["--no-create-home", "--home-dir", "/nonexistent"]
             if home is None else ["--create-home", "--home-dir", str(home)])
    done = _run_account_tool(["useradd", *where, "--user-group",
                              "--shell", "/bin/sh", name])
    if done.returncode != 0:
        raise RuntimeError(f"useradd {name} failed: {done.stderr.strip()}")
    ids = subprocess.run(["id", "-u", name], capture_output=True, text=True,
                         timeout=COMMAND_TIMEOUT, check=True).stdout
    gid = subprocess.run(["id", "-g", name], capture_output=True, text=True,
                         timeout=COMMAND_TIMEOUT, check=True).stdout
    return User(name, int(ids), int(gid),
                Path("/nonexistent") if home is None else Path(home))


def delete_user(user):
    _run_account_tool(["userdel", user.name])
    # The renewal lock directories the module and passage-token make;
    # they would outlive the user.
    for leftover in (Path(f"/run/pam_passage/{user.uid}"),
                     Path(f"/tmp/passage-token-{user.uid}")):
        if leftover.is_dir() and leftover.stat().st_uid == user.uid:
            shutil.rmtree(leftover, ignore_errors=True)


@pytest.fixture(scope="session")
def test_user():
    require_root()
    user = create_user()
    yield user
    delete_user(user)


@pytest.fixture(scope="session")
def home_user():
    """A user with a home directory, for stores under %h.

    The home sits in a directory of its own under /tmp that everyone may
    traverse: the module reads such a store as the user.
    """
    require_root()
    base = Path(tempfile.mkdtemp(prefix="ppt-home-", dir="/tmp"))
    os.chmod(base, 0o755)
    user = create_user(home=base / "home")
    yield user
    delete_user(user)
    shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------
# One pam-driver transaction
# ---------------------------------------------------------------------------

@dataclass
class Step:
    name: str           # as given: "auth", "run:COMMAND", "env", ...
    result: object      # a PAM code name, a run's exit status, or None
    output: list = field(default_factory=list)  # run output, env lines


class DriverRun:
    """The steps of one pam-driver run, parsed from its standard output."""

    def __init__(self, argv, steps, completed):
        self.argv = argv
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.returncode = completed.returncode
        self.steps = self._parse(steps, completed.stdout.splitlines())

    @staticmethod
    def _parse(names, lines):
        """Match the lines to the steps, which print in the order given."""
        steps, i = [], 0
        for name in names:
            if name == "env":
                output = []
                while i < len(lines) and lines[i].startswith("env: "):
                    output.append(lines[i][len("env: "):])
                    i += 1
                steps.append(Step(name, None, output))
            elif name.startswith("run:"):
                output = []
                while i < len(lines) and not RUN_LINE.fullmatch(lines[i]):
                    output.append(lines[i])
                    i += 1
                if i == len(lines):
                    break
                # Output without a final newline shares the driver's line.
                match = RUN_LINE.fullmatch(lines[i])
                if match.group(1):
                    output.append(match.group(1))
                steps.append(Step(name, int(match.group(2)), output))
                i += 1
            else:
                match = (STEP_LINE.fullmatch(lines[i])
                         if i < len(lines) else None)
                if match is None or match.group(1) != name:
                    break
                steps.append(Step(name, match.group(2)))
                i += 1
        return steps

    def _steps_named(self, name):
        return [s for s in self.steps
                if s.name == name or (name == "run" and
                                      s.name.startswith("run:"))]

    def code(self, name, index=0):
        """The PAM code of the index-th step called name."""
        found = self._steps_named(name)
        assert len(found) > index, f"no step {name} #{index} in\n{self}"
        return found[index].result

    def codes(self):
        """[(step, code)] for the PAM calls, in order."""
        return [(s.name, s.result) for s in self.steps
                if s.name != "env" and not s.name.startswith("run:")]

    def run_output(self, index=0):
        """(exit status, output lines) of the index-th run: step."""
        found = self._steps_named("run")
        assert len(found) > index, f"no run step #{index} in\n{self}"
        return found[index].result, found[index].output

    def env(self, index=0):
        """The PAM environment the index-th env step printed, as a dict."""
        found = self._steps_named("env")
        assert len(found) > index, f"no env step #{index} in\n{self}"
        return dict(line.split("=", 1) for line in found[index].output)

    def __str__(self):
        return (f"$ {' '.join(self.argv)}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}--- exit {self.returncode}")

    # pytest shows an assertion message with repr().
    __repr__ = __str__


def clean_environment():
    """The caller's environment without proxy settings.

    The module must ignore them anyway; leaving them out means a module
    that did not could still reach nothing but loopback.
    """
    return {key: value for key, value in os.environ.items()
            if not key.lower().endswith("_proxy")}


def run_driver(confdir, service, user, steps, input_text="", options=(),
               env=None, wrapper=()):
    """wrapper: a command the driver runs under, e.g. keyctl session -."""
    if env is None:
        env = clean_environment()
    argv = [*wrapper, str(DRIVER), "--confdir", str(confdir), *options,
            service, user, *steps]
    completed = subprocess.run(argv, input=input_text, capture_output=True,
                               text=True, timeout=DRIVER_TIMEOUT, env=env)
    run = DriverRun(argv, steps, completed)
    assert len(run.steps) == len(steps), f"driver output unreadable:\n{run}"
    return run


# ---------------------------------------------------------------------------
# One test's setup: store, configuration file, pam.d stack
# ---------------------------------------------------------------------------

# The stack's result is the module's own code: "required" would turn a
# lone PAM_IGNORE into PAM_PERM_DENIED, and ignore=ok passes it through.
CONTROL = "[success=ok ignore=ok default=bad]"


class PamSetup:
    """A store, a configuration file and a pam.d service for one test.

    The configuration file (given to the module as config=) holds the
    settings every line needs; write_service adds per-line arguments.
    """

    def __init__(self, tmp_path, server, user):
        self.server = server
        self.user = user
        self.dir = tmp_path
        self.store_dir = tmp_path / "store"
        self.store_dir.mkdir(mode=0o700)
        self.entry_path = self.store_dir / user.name
        self.confdir = tmp_path / "pam.d"
        self.confdir.mkdir(mode=0o755)
        # libpam falls back to "other" for a missing stack: deny all.
        (self.confdir / "other").write_text(
            "".join(f"{group} required pam_deny.so\n" for group in
                    ("auth", "account", "password", "session")))
        self.config_file = tmp_path / "pam_passage.conf"
        # Unique, so that log lines of this test can be told apart.
        self.service = "ppt-" + secrets.token_hex(4)
        self.settings = {
            "app_id": "test-app",
            "api_url": server.url,
            "ca_file": server.ca_file,
            "store": f"{self.store_dir}/%u",
        }
        self.write_config()
        self.write_service()

    # -- files ---------------------------------------------------------

    def write_config(self, **changes):
        """Change settings (None removes one) and rewrite the file."""
        for key, value in changes.items():
            if value is None:
                self.settings.pop(key, None)
            else:
                self.settings[key] = str(value)
        text = "".join(f"{key} = {value}\n"
                       for key, value in self.settings.items())
        self.config_file.write_text(text)
        os.chmod(self.config_file, 0o600)

    def map_user(self, *subs):
        """Write a user_map letting these Passage users open the account,
        and configure it: typed tokens need one."""
        path = self.dir / "user_map"
        path.write_text("# local user, Passage user\n" + "".join(
            f"{self.user.name} {sub}\n" for sub in subs))
        os.chmod(path, 0o644)
        self.write_config(user_map=path)
        return path

    def write_service(self, args=(), auth_args=(), session_args=(),
                      keyinit=True, auth_before=()):
        """Write the pam.d file: pam_passage for auth and session.

        keyinit puts pam_keyinit before it, so that each transaction gets
        a session keyring of the user's own, as the design asks.
        auth_before are whole auth lines to put before pam_passage's.
        """
        module = f"{CONTROL} {MODULE} config={self.config_file}"
        common = " ".join(args)
        lines = [*auth_before,
                 f"auth {module} {common} {' '.join(auth_args)}"]
        if keyinit:
            lines.append("session optional pam_keyinit.so force revoke")
        lines.append(f"session {module} {common} {' '.join(session_args)}")
        (self.confdir / self.service).write_text(
            "\n".join(line.rstrip() for line in lines) + "\n")

    def entry(self):
        """The store entry's text, or None when there is none."""
        try:
            return self.entry_path.read_text()
        except FileNotFoundError:
            return None

    def write_entry(self, text, mode=0o600):
        """Put an entry in place by hand (for malformed ones)."""
        self.entry_path.write_bytes(
            text.encode() if isinstance(text, str) else text)
        os.chmod(self.entry_path, mode)

    # -- the administrator's and the user's tools ----------------------

    def deposit(self, token):
        """passage-token store USER, token on standard input."""
        done = subprocess.run(
            [str(PASSAGE_TOKEN), "--config", str(self.config_file), "store",
             self.user.name], input=token + "\n", capture_output=True,
            text=True, timeout=COMMAND_TIMEOUT)
        assert done.returncode == 0, f"store failed: {done.stderr}"
        return token

    def deposit_new(self, **issue):
        """Issue a fresh chain at the server and deposit its token."""
        issued = self.server.issue(**issue)
        self.deposit(issued["refresh_token"])
        return issued

    def login(self, *steps, input_text="", options=(), env=None,
              wrapper=()):
        """Run pam-driver for this service and user."""
        return run_driver(self.confdir, self.service, self.user.name, steps,
                          input_text, options, env, wrapper)

    def log_lines(self, syslog, mark):
        """The module's log lines for this test's service since mark."""
        prefix = f"pam_passage({self.service}:"
        return [line for line in syslog.since(mark) if prefix in line.text]


def keyctl_step(*args):
    """A run: step calling keyctl as the user inside the session."""
    return "run:" + " ".join([KEYCTL, *args])


@pytest.fixture
def pam(tmp_path, passage_server, test_user):
    require_build()
    return PamSetup(tmp_path, passage_server, test_user)


@pytest.fixture
def home_pam(tmp_path, passage_server, home_user):
    """A PamSetup whose store is in the user's home: store=%h/DIR/token.

    DIR is new for each test, owned by the user, mode 0700.
    """
    require_build()
    setup = PamSetup(tmp_path, passage_server, home_user)
    store = home_user.home / f".passage-{setup.service}"
    store.mkdir(mode=0o700)
    os.chown(store, home_user.uid, home_user.gid)
    setup.write_config(store=f"%h/{store.name}/token")
    setup.store_dir = store
    setup.entry_path = store / "token"
    yield setup
    shutil.rmtree(store, ignore_errors=True)


# ---------------------------------------------------------------------------
# Waiting inside a session
# ---------------------------------------------------------------------------

class Meeting:
    """Lets a run: step wait, inside the session, until the test says go.

    The step touches "ready", then waits at most WAIT_SECONDS for "go",
    in a directory of the user's own.
    """

    WAIT_SECONDS = 60

    def __init__(self, directory):
        self.dir = directory
        tries = self.WAIT_SECONDS * 10
        self.step = (
            f"run:/usr/bin/touch {directory}/ready; i=0; "
            f"while [ ! -e {directory}/go ] && [ $i -lt {tries} ]; do "
            f"/bin/sleep 0.1; i=$((i + 1)); done; [ -e {directory}/go ]")

    def wait_until_ready(self):
        deadline = time.monotonic() + self.WAIT_SECONDS
        while not (self.dir / "ready").exists():
            assert time.monotonic() < deadline, "the session never got there"
            time.sleep(0.05)

    def go(self):
        (self.dir / "go").touch()


@pytest.fixture
def meeting(test_user):
    # Under /tmp itself: the user cannot reach pytest's own directories.
    directory = Path(tempfile.mkdtemp(prefix="ppt-meet-", dir="/tmp"))
    os.chown(directory, test_user.uid, test_user.gid)
    yield Meeting(directory)
    shutil.rmtree(directory, ignore_errors=True)

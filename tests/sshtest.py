"""Helpers for the SSH end-to-end tests (tests/test_ssh.py).

A real OpenSSH sshd runs on 127.0.0.1, on a free port, with a
configuration, host key, pid file and log of its own, and a PAM service
of its own: sshd takes the service name from the name it was started as,
so it is started through a symbolic link named after a file the tests
write in /etc/pam.d and remove afterwards.  /etc/pam.d/sshd and
/etc/ssh/sshd_config are never read or touched.

sshd runs in a mount namespace of its own whose /dev holds a "log"
socket read by the tests, so that the module's pam_syslog lines can be
checked even where no syslog daemon runs, without binding the machine's
/dev/log.  Where no mount namespace can be made, sshd runs without one
and the tests that need log lines skip.

Users are made with useradd ("pps-" and eight hex digits) and a random
password, and deleted at the end.  The ssh client runs with -F /dev/null,
a known_hosts file holding only our host key, and a timeout on every run.
"""

import os
import pwd
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from syslog_capture import SyslogCapture

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
MODULE = BUILD / "pam_passage.so"
PASSAGE_TOKEN = BUILD / "passage-token"
CONF = ROOT / "conf"
SSHD = Path("/usr/sbin/sshd")
PAM_DIR = Path("/etc/pam.d")
PRIVSEP_DIR = Path("/run/sshd")

# Bounds on every wait.  Far above what a working login takes: reaching
# one means something hangs, not that something is slow.
SSH_TIMEOUT = 60
COMMAND_TIMEOUT = 30
SSHD_START_TIMEOUT = 15
SESSION_END_TIMEOUT = 30
POLL_INTERVAL = 0.05
ACCOUNT_TOOL_TRIES = 5      # /etc/passwd may be locked by another useradd
PORT_TRIES = 3              # a free port may be taken before sshd binds it

# Run in the new mount namespace: a tmpfs /dev with the few devices a
# login needs and our syslog socket as /dev/log, then sshd itself (exec,
# so that sshd keeps the pid we started).
NAMESPACE_SCRIPT = """\
set -eu
top=$1; shift
dev=$top/dev
mount -t tmpfs -o mode=0755,size=64k pps-dev "$dev"
for name in null zero full random urandom tty ptmx; do
    : >"$dev/$name"
    mount --bind "/dev/$name" "$dev/$name"
done
mkdir "$dev/pts" "$dev/shm"
mount --rbind /dev/pts "$dev/pts"
mount --rbind /dev/shm "$dev/shm"
ln -s /proc/self/fd "$dev/fd"
ln -s fd/0 "$dev/stdin"
ln -s fd/1 "$dev/stdout"
ln -s fd/2 "$dev/stderr"
: >"$dev/log"
mount --bind "$top/syslog.sock" "$dev/log"
mount --move "$dev" /dev
exec "$@"
"""

# ssh's askpass: prints the next of the answers, one per line in
# $PPS_ASKPASS_DIR/answers, and keeps each prompt it was given.
ASKPASS_SCRIPT = """\
#!/bin/sh
dir=$PPS_ASKPASS_DIR
n=$(cat "$dir/count" 2>/dev/null || echo 0)
echo $((n + 1)) >"$dir/count"
printf '%s\\n' "$1" >>"$dir/prompts"
sed -n "$((n + 1))p" "$dir/answers"
"""

SSHD_CONFIG = """\
# sshd for pam_passage's SSH tests; nothing here is the system's.
ListenAddress 127.0.0.1
HostKey {work}/host_ed25519_key
PidFile {work}/sshd.pid
LogLevel DEBUG3
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
AllowUsers pps-*
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitUserEnvironment no
LoginGraceTime 60
# Users named pps-mfa-* must show a key and then pass the auth stack.
Match User pps-mfa-*
    AuthenticationMethods publickey,keyboard-interactive
# Users named pps-pw-* log in with the "password" method instead.
Match User pps-pw-*
    KbdInteractiveAuthentication no
    PasswordAuthentication yes
"""


def missing_prerequisite():
    """Why the SSH tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: runs sshd, makes users, writes /etc/pam.d"
    for program in (SSHD, Path("/usr/bin/ssh"), Path("/usr/bin/sshpass"),
                    Path("/usr/bin/keyctl"), Path("/usr/bin/ssh-keygen")):
        if not program.exists():
            return f"{program} is not installed (make deps)"
    for built in (MODULE, PASSAGE_TOKEN):
        if not built.exists():
            return f"{built} is not built (make)"
    return None


def run(argv, **kwargs):
    """subprocess.run with a timeout, text and captured output."""
    kwargs.setdefault("timeout", COMMAND_TIMEOUT)
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(argv, **kwargs)


def wait_until(predicate, timeout, what):
    """Poll predicate until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(POLL_INTERVAL)


def children_of(pid):
    """The pids whose parent is pid, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue    # it ended while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parens.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


# ---------------------------------------------------------------------------
# Working directory
# ---------------------------------------------------------------------------

class WorkDir:
    """A directory of the tests' own, traversable by the test users.

    Test users need to read the CA certificate (passage-token renews with
    the module's ca_file) and run passage-token, so both are copied here:
    pytest's own temporary directories are root's alone.  The module is
    copied too, so that a rebuild during the run cannot hand sshd a
    half-written file.
    """

    def __init__(self, ca_file):
        self.path = Path(tempfile.mkdtemp(prefix="pps-ssh-"))
        self.path.chmod(0o755)
        self.ca_file = self.path / "ca.pem"
        shutil.copyfile(ca_file, self.ca_file)
        self.ca_file.chmod(0o644)
        self.passage_token = self.path / "passage-token"
        shutil.copyfile(PASSAGE_TOKEN, self.passage_token)
        self.passage_token.chmod(0o755)
        self.module = self.path / "pam_passage.so"
        shutil.copyfile(MODULE, self.module)
        self.module.chmod(0o644)

    def private_dir(self, name):
        """A new root-only directory, e.g. for a store."""
        path = Path(tempfile.mkdtemp(prefix=name + "-", dir=self.path))
        path.chmod(0o700)
        return path

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def write_module_config(path, **options):
    """A pam_passage configuration file, root's and 0644 as it must be."""
    lines = [f"{key} = {value}" for key, value in options.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    return path


# ---------------------------------------------------------------------------
# The PAM service and sshd
# ---------------------------------------------------------------------------

class PamService:
    """/etc/pam.d/NAME, a stack of the tests' own."""

    def __init__(self, name):
        self.name = name
        self.path = PAM_DIR / name

    def write(self, lines):
        self.path.write_text("\n".join(lines) + "\n")
        self.path.chmod(0o644)

    def remove(self):
        self.path.unlink(missing_ok=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def can_mount_privately(directory):
    """True when a mount namespace of our own can mount on directory."""
    try:
        done = run(["unshare", "--mount", "--propagation", "private",
                    "mount", "-t", "tmpfs", "pps-probe", str(directory)])
    except (OSError, subprocess.TimeoutExpired):
        return False
    # The mount ended with the namespace, as sshd's will.
    return done.returncode == 0


class Sshd:
    """One sshd -D on 127.0.0.1, started through the service's link."""

    def __init__(self, work, service):
        self.service = service
        self.dir = work.private_dir("sshd")
        self.config_path = self.dir / "sshd_config"
        self.log_path = self.dir / "sshd.log"
        self.link = self.dir / service.name
        self.host_key = self.dir / "host_ed25519_key"
        self.known_hosts = self.dir / "known_hosts"
        self.syslog = None
        self.proc = None
        self.port = None

    def start(self):
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        generate_key(self.host_key)
        self.config_path.write_text(SSHD_CONFIG.format(work=self.dir))
        self.link.symlink_to(SSHD)
        self._start_syslog()
        for _ in range(PORT_TRIES):
            self.port = free_port()
            if self._start_on_port():
                break
        else:
            raise RuntimeError(f"sshd did not start:\n{self.stderr_text()}"
                               f"\n{self.log_text()}")
        public = (self.dir / "host_ed25519_key.pub").read_text()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public}")
        return self

    def _start_syslog(self):
        (self.dir / "dev").mkdir()
        if not can_mount_privately(self.dir / "dev"):
            return
        (self.dir / "namespace.sh").write_text(NAMESPACE_SCRIPT)
        self.syslog = SyslogCapture(str(self.dir / "syslog.sock")).start()

    def _argv(self):
        # As systemd starts it (KeyringMode=private): a session keyring of
        # its own, which does not link root's user keyring.
        sshd = ["keyctl", "session", "-",
                str(self.link), "-D", "-E", str(self.log_path),
                "-f", str(self.config_path), "-p", str(self.port)]
        if self.syslog is None or not self.syslog.active:
            return sshd
        return ["unshare", "--mount", "--propagation", "private",
                "/bin/sh", str(self.dir / "namespace.sh"), str(self.dir),
                *sshd]

    def _start_on_port(self):
        """True once sshd listens; False when the port was taken."""
        marker = f"Server listening on 127.0.0.1 port {self.port}."
        offset = self.log_size()
        with open(self.dir / "sshd.stderr", "ab") as stderr:
            self.proc = subprocess.Popen(
                self._argv(), stdin=subprocess.DEVNULL,
                stdout=stderr, stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + SSHD_START_TIMEOUT
        while marker not in self.log_text(offset):
            if self.proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not listen within "
                                   f"{SSHD_START_TIMEOUT}s")
            time.sleep(POLL_INTERVAL)
        return True

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=COMMAND_TIMEOUT)
        if self.syslog is not None:
            self.syslog.stop()

    def wait_sessions_closed(self):
        """Wait until every connection's sshd process has ended.

        The client may return before sshd closes the PAM session (and
        revokes): only the end of the connection's process says that the
        close has run.
        """
        pid = self.proc.pid
        wait_until(lambda: not children_of(pid), SESSION_END_TIMEOUT,
                   "sshd's connection processes to end")

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, offset=0):
        """sshd's own log (LogLevel DEBUG3) from byte offset on."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self):
        path = self.dir / "sshd.stderr"
        return path.read_text(errors="replace") if path.exists() else ""

    def syslog_mark(self):
        """A position in the PAM modules' log; skips if there is none."""
        if self.syslog is None:
            pytest.skip("no mount namespace: pam_syslog lines of sshd's "
                        "PAM modules cannot be caught")
        return self.syslog.mark()

    def syslog_since(self, mark):
        return self.syslog.since(mark)

    def syslog_about(self, user):
        """The lines caught that name user, for failure messages."""
        if self.syslog is None or not self.syslog.active:
            return "(no log lines: no syslog capture)"
        lines = self.syslog.since(0)
        return "\n".join(str(line) for line in lines
                         if user.name in line.text)


def generate_key(path):
    done = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                "pam_passage-test", "-f", str(path)])
    if done.returncode != 0:
        raise RuntimeError(f"ssh-keygen failed: {done.stderr}")


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    name: str
    password: str
    uid: int
    gid: int
    home: Path


def _account_tool(argv, stdin=None):
    """useradd, chpasswd, userdel: retried while another holds the lock."""
    for attempt in range(ACCOUNT_TOOL_TRIES):
        done = run(argv, input=stdin)
        if done.returncode == 0 or "lock" not in done.stderr:
            return done
        time.sleep(0.5 * (attempt + 1))
    return done


def create_user(kind=""):
    """A new user "pps-[KIND-]XXXXXXXX" with a home and a password."""
    name = f"pps-{kind + '-' if kind else ''}{secrets.token_hex(4)}"
    done = _account_tool(["useradd", "--create-home", "--user-group",
                          "--shell", "/bin/sh", name])
    if done.returncode != 0:
        raise RuntimeError(f"useradd {name}: {done.stderr.strip()}")
    password = secrets.token_urlsafe(12)
    done = _account_tool(["chpasswd"], stdin=f"{name}:{password}\n")
    if done.returncode != 0:
        delete_user_named(name)
        raise RuntimeError(f"chpasswd {name}: {done.stderr.strip()}")
    entry = pwd.getpwnam(name)
    return User(name, password, entry.pw_uid, entry.pw_gid,
                Path(entry.pw_dir))


def delete_user_named(name):
    """userdel --remove; the error text, or None once the user is gone."""
    done = _account_tool(["userdel", "--remove", name])
    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return done.stderr.strip() or f"userdel exited {done.returncode}"


def delete_user(user):
    # The renewal lock directories the module and passage-token make;
    # they would outlive the user.
    for leftover in (Path(f"/run/pam_passage/{user.uid}"),
                     Path(f"/tmp/passage-token-{user.uid}")):
        if leftover.is_dir() and leftover.stat().st_uid == user.uid:
            shutil.rmtree(leftover, ignore_errors=True)
    # A process of the user's still running (a session that did not end)
    # keeps userdel from working: say so rather than leave the user.
    error = delete_user_named(user.name)
    if error is not None:
        raise AssertionError(f"cannot delete user {user.name}: {error}")


def authorize_key(user, public_key_path):
    """Installs a public key as the user's only authorized key."""
    ssh_dir = user.home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(Path(public_key_path).read_text())
    keys.chmod(0o600)
    for path in (ssh_dir, keys):
        os.chown(path, user.uid, user.gid)


# ---------------------------------------------------------------------------
# The ssh client
# ---------------------------------------------------------------------------

@dataclass(repr=False)
class SshResult:
    returncode: int
    stdout: str
    stderr: str

    def values(self, key):
        """Every "KEY=VALUE" line's value for KEY, in order."""
        prefix = key + "="
        return [line[len(prefix):] for line in self.stdout.splitlines()
                if line.startswith(prefix)]

    def value(self, key):
        found = self.values(key)
        assert len(found) == 1, f"one {key}= line expected in\n{self}"
        return found[0]

    def __repr__(self):
        # pytest shows assertion messages with repr: make it readable.
        return (f"\n--- exit {self.returncode}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")


def client_environment(**extra):
    """A small environment: no agent, no display, no proxy, no locale."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C"}
    env.update(extra)
    return env


def ssh_argv(sshd, user, options, command):
    argv = ["ssh", "-F", "/dev/null", "-p", str(sshd.port),
            "-o", f"UserKnownHostsFile={sshd.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10",
            "-o", "IdentityAgent=none",
            "-o", "LogLevel=ERROR",
            "-l", user.name]
    for option in options:
        argv += ["-o", option]
    return argv + ["127.0.0.1", "--", command]


KBDINT = ("PreferredAuthentications=keyboard-interactive",
          "PubkeyAuthentication=no")


def _communicate(argv, env, stdin_text=None):
    """Runs one client in a process group of its own, bounded in time."""
    proc = subprocess.Popen(
        argv, env=env, text=True, start_new_session=True,
        stdin=subprocess.PIPE if stdin_text is not None
        else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(stdin_text, timeout=SSH_TIMEOUT)
    except subprocess.TimeoutExpired:
        # sshpass runs ssh as its child: end the whole group we made.
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=COMMAND_TIMEOUT)
        raise AssertionError(f"{argv[0]} hung for {SSH_TIMEOUT}s:\n"
                             f"{stdout}\n{stderr}")
    return SshResult(proc.returncode, stdout, stderr)


PASSWORD = ("PreferredAuthentications=password", "PubkeyAuthentication=no")


def ssh_password(sshd, user, command, password=None, method=KBDINT):
    """A keyboard-interactive (or password) login; sshpass answers."""
    argv = ["sshpass", "-e"] + ssh_argv(
        sshd, user, method + ("NumberOfPasswordPrompts=1",), command)
    env = client_environment(SSHPASS=password or user.password)
    return _communicate(argv, env)


def ssh_publickey(sshd, user, key, command, extra_options=()):
    """A public-key login in batch mode."""
    options = ("PreferredAuthentications=publickey",
               "IdentitiesOnly=yes", f"IdentityFile={key}",
               "BatchMode=yes", *extra_options)
    return _communicate(ssh_argv(sshd, user, options, command),
                        client_environment())


class Askpass:
    """Answers ssh's questions in order, through SSH_ASKPASS."""

    def __init__(self, work, answers):
        self.dir = work.private_dir("askpass")
        (self.dir / "answers").write_text("".join(a + "\n"
                                                  for a in answers))
        self.script = self.dir / "askpass"
        self.script.write_text(ASKPASS_SCRIPT)
        self.script.chmod(0o700)

    def environment(self):
        return client_environment(SSH_ASKPASS=str(self.script),
                                  SSH_ASKPASS_REQUIRE="force",
                                  PPS_ASKPASS_DIR=str(self.dir))

    def prompts(self):
        path = self.dir / "prompts"
        return path.read_text().splitlines() if path.exists() else []


def ssh_askpass(sshd, user, askpass, command, options=KBDINT):
    """A login whose every question askpass answers (no terminal)."""
    return _communicate(ssh_argv(sshd, user, options, command),
                        askpass.environment())


class SshSession:
    """A login that stays open while the test talks to its command.

    The remote command reads lines from the test; the test reads the
    command's output line by line, each read bounded in time.
    """

    def __init__(self, sshd, user, command, password=None):
        argv = ["sshpass", "-e"] + ssh_argv(
            sshd, user, KBDINT + ("NumberOfPasswordPrompts=1",), command)
        env = client_environment(SSHPASS=password or user.password)
        self.proc = subprocess.Popen(
            argv, env=env, start_new_session=True, bufsize=0,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.output = b""

    def read_until(self, marker, timeout=SSH_TIMEOUT):
        """The output up to the line marker; fails after timeout."""
        wanted = marker.encode() + b"\n"
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while wanted not in self.output:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise AssertionError(f"no {marker!r} within {timeout}s"
                                         f": {self.output!r}")
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"output ended before {marker!r}"
                                         f": {self.output!r}")
                self.output += chunk
        return self.output.decode()

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self):
        """Closes the command's input; waits for the client to end."""
        try:
            rest, stderr = self.proc.communicate(timeout=SSH_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"ssh hung for {SSH_TIMEOUT}s")
        self.output += rest
        return SshResult(self.proc.returncode, self.output.decode(),
                         stderr.decode())

    def kill(self):
        """Ends the client's process group, if it is still running."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=COMMAND_TIMEOUT)


# ---------------------------------------------------------------------------
# What the kernel and the store hold
# ---------------------------------------------------------------------------

def key_count(uid):
    """How many keys uid owns, from /proc/key-users (0 when none)."""
    for line in Path("/proc/key-users").read_text().splitlines():
        owner, rest = line.split(":", 1)
        if int(owner) == uid:
            # "usage nkeys/nikeys qnkeys/maxkeys qnbytes/maxbytes"
            return int(rest.split()[1].split("/")[0])
    return 0


@dataclass(frozen=True)
class ProcKey:
    serial: int
    timeout: str        # "perm", or what is left: "1m", "59s", ...
    uid: int
    type: str
    description: str


def visible_keys():
    """The keys /proc/keys shows us (root): those we may view."""
    keys = []
    for line in Path("/proc/keys").read_text().splitlines():
        # "SERIAL FLAGS USAGE TIMEOUT PERM UID GID TYPE DESCRIPTION: SUMMARY"
        fields = line.split(None, 8)
        if len(fields) < 9:
            continue
        description = fields[8].rsplit(": ", 1)[0]
        keys.append(ProcKey(int(fields[0], 16), fields[3], int(fields[5]),
                            fields[7], description))
    return keys


@dataclass(frozen=True)
class StoreEntry:
    token: str
    lease: list         # ["lease", ID, UNTIL] or []


def read_store(store_dir, user):
    """The user's store entry, or None when there is none."""
    path = Path(store_dir) / user.name
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    lease = lines[1].split() if len(lines) > 1 else []
    return StoreEntry(lines[0], lease)


def deposit(config_path, user, token):
    """Deposits a refresh token the documented way: passage-token store."""
    done = run([str(PASSAGE_TOKEN), "--config", str(config_path), "store",
                user.name], input=token + "\n")
    assert done.returncode == 0, f"passage-token store: {done.stderr}"

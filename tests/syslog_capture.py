"""Catch what programs send to syslog(3), for tests that check log lines.

The module logs with pam_syslog, which ends in syslog(3) writing
datagrams to /dev/log.  Test machines often run no syslog daemon, so
nothing listens there and the lines are lost.  The session fixture
`syslog_lines` then binds /dev/log itself and keeps every message:

    mark = syslog_lines.mark()
    ...run something that logs...
    for line in syslog_lines.since(mark): ...

When /dev/log already exists (a real syslog daemon, or another test run
that got there first) nothing is bound: the messages go where they always
go, and syslog_lines.require() skips the test that wanted them.
"""

import os
import re
import socket
import stat
import threading
from dataclasses import dataclass

import pytest

DEV_LOG = "/dev/log"
RECV_SIZE = 65536
CATCH_UP_TIMEOUT = 10     # seconds to wait for our own sync datagram
SYNC_PREFIX = b"syslog-capture-sync "

# "<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE", as glibc's syslog(3) sends it.
HEADER = re.compile(r"<(\d{1,3})>(?:\w{3} [ \d]\d \d\d:\d\d:\d\d )?(.*)",
                    re.DOTALL)

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice",
              "info", "debug")


@dataclass(frozen=True)
class LogLine:
    """One syslog message: its facility and severity, and its text."""

    facility: int
    severity: int
    text: str       # "TAG[PID]: MESSAGE", the timestamp left out

    @property
    def level(self):
        return SEVERITIES[self.severity]

    def __str__(self):
        return f"{self.level}: {self.text}"


def parse_datagram(data):
    text = data.decode("utf-8", "replace").rstrip("\n\0")
    match = HEADER.fullmatch(text)
    if match is None:
        return LogLine(-1, 7, text)
    priority = int(match.group(1))
    return LogLine(priority >> 3, priority & 7, match.group(2))


class SyslogCapture:
    """A /dev/log of our own, read by one thread, if we could bind it."""

    def __init__(self, path=DEV_LOG):
        self.path = path
        self.active = False
        self.reason = None
        self._lines = []
        self._synced = set()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._socket = None
        self._thread = None
        self._inode = None
        self._syncs = 0

    def start(self):
        if os.path.lexists(self.path):
            self.reason = (f"{self.path} exists (a syslog daemon?): "
                           "log lines cannot be checked")
            return self
        if os.geteuid() != 0:
            self.reason = f"binding {self.path} needs root"
            return self
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.path)
        except OSError as error:
            sock.close()
            self.reason = f"cannot bind {self.path}: {error}"
            return self
        # Programs that run as a test user log here too.
        os.chmod(self.path, 0o666)
        self._inode = os.lstat(self.path).st_ino
        # The timeout lets the reader notice stop() without a datagram.
        sock.settimeout(0.5)
        self._socket = sock
        self._thread = threading.Thread(target=self._read, daemon=True,
                                        name="syslog-capture")
        self._thread.start()
        self.active = True
        return self

    def stop(self):
        if not self.active:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._socket.close()
        # Remove the socket only if it is still the one we bound.
        try:
            st = os.lstat(self.path)
            if stat.S_ISSOCK(st.st_mode) and st.st_ino == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.active = False

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self._socket.recv(RECV_SIZE)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._changed:
                if data.startswith(SYNC_PREFIX):
                    self._synced.add(data)
                else:
                    self._lines.append(parse_datagram(data))
                self._changed.notify_all()

    def require(self):
        """Skip the calling test when log lines cannot be seen."""
        if not self.active:
            pytest.skip(self.reason)

    def mark(self):
        """A position in the log; since(mark) gives what came after it."""
        self.require()
        self._catch_up()
        with self._changed:
            return len(self._lines)

    def since(self, mark):
        """The LogLines received after mark, oldest first."""
        self.require()
        self._catch_up()
        with self._changed:
            return list(self._lines[mark:])

    def _catch_up(self):
        """Wait until every datagram already sent has been read.

        Datagrams queue on the socket in order of sending, so once a sync
        datagram sent now has been read, so has everything before it.
        """
        with self._changed:
            self._syncs += 1
            token = SYNC_PREFIX + str(self._syncs).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(token, self.path)
        with self._changed:
            if not self._changed.wait_for(lambda: token in self._synced,
                                          timeout=CATCH_UP_TIMEOUT):
                raise AssertionError("the syslog capture fell behind")
            self._synced.discard(token)


@pytest.fixture(scope="session")
def syslog_lines():
    capture = SyslogCapture().start()
    yield capture
    capture.stop()

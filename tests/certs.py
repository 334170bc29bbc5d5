#!/usr/bin/python3
"""Make a throw-away CA and server certificates for the test server.

    certs.py DIR

writes into DIR:

    ca.pem, ca.key              the test CA (give ca.pem as ca_file=)
    server.pem, server.key      for 127.0.0.1, ::1 and localhost
    wronghost.pem, wronghost.key
                                for wrong.example only, signed by the same
                                CA: a valid certificate for the wrong host

Keys are EC P-256; certificates are valid for a few days.  Everything is
done by the openssl command, with a configuration file of our own so that
the system's openssl.cnf cannot change the result.
"""

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DAYS = 3

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn

[dn]

[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost

[wronghost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
"""


@dataclass(frozen=True)
class Certs:
    """Where make_certs() put each file."""

    dir: Path
    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    wronghost_cert: Path
    wronghost_key: Path


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_key(path):
    # Created 0600 from the start, not narrowed afterwards.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    openssl("genpkey", "-algorithm", "EC",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))


def make_ca(config, key, cert, days):
    make_key(key)
    openssl("req", "-new", "-x509", "-config", str(config),
            "-extensions", "ca", "-key", str(key), "-out", str(cert),
            "-subj", "/CN=pam_passage test CA", "-days", str(days),
            "-set_serial", serial())


def make_signed(config, section, name, key, cert, ca, ca_key, days):
    """Make a key and a certificate for it, signed by the CA."""
    make_key(key)
    request = cert.with_suffix(".csr")
    openssl("req", "-new", "-config", str(config), "-key", str(key),
            "-subj", f"/CN={name}", "-out", str(request))
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca),
            "-CAkey", str(ca_key), "-extfile", str(config),
            "-extensions", section, "-days", str(days),
            "-set_serial", serial(), "-out", str(cert))
    request.unlink()


def serial():
    # Distinct serials, so that no client cache mixes certificates up.
    return str(secrets.randbits(63))


def make_certs(directory, days=DAYS):
    """Make the CA and both server certificates in directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certs(
        dir=directory,
        ca=directory / "ca.pem",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        wronghost_cert=directory / "wronghost.pem",
        wronghost_key=directory / "wronghost.key",
    )
    config = directory / "openssl.cnf"
    config.write_text(OPENSSL_CONFIG)
    make_ca(config, certs.ca_key, certs.ca, days)
    make_signed(config, "server", "localhost", certs.server_key,
                certs.server_cert, certs.ca, certs.ca_key, days)
    make_signed(config, "wronghost", "wrong.example", certs.wronghost_key,
                certs.wronghost_cert, certs.ca, certs.ca_key, days)
    config.unlink()
    return certs


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} DIR", file=sys.stderr)
        return 2
    try:
        certs = make_certs(argv[1])
    except subprocess.CalledProcessError as error:
        sys.stderr.write(error.stderr.decode(errors="replace"))
        print(f"{argv[0]}: openssl failed", file=sys.stderr)
        return 1
    print(f"{argv[0]}: wrote test CA and certificates to {certs.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/bin/sh
# One whole login through real libpam against the project's Passage-compatible
# test server: deposit, authenticate, open session, a user program reads the
# token, close session, revocation.  Run as root: "sudo make deps demo".
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
user=passage-demo
app=demo-app

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run as root (sudo make deps demo)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/pam_passage-demo.XXXXXX)
# The user's passage-token reads the CA file when it renews.
chmod 0755 "$work"
server_pid=
made_user=

cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "$made_user" ] && userdel -r "$user" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

step "Starting the Passage-compatible test server (HTTPS, CA made now)"
/usr/bin/python3 "$top/tests/certs.py" "$work/certs" >/dev/null
chmod 0755 "$work/certs" && chmod 0644 "$work/certs/ca.pem"
/usr/bin/python3 "$top/tests/passage_server.py" \
    --cert "$work/certs/server.pem" --key "$work/certs/server.key" \
    --port-file "$work/port" --log-file "$work/server.log" \
    --app-id "$app" --lifetime 300 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
api=https://127.0.0.1:$port/v1
echo "listening on $api"

step "Creating the local user $user"
if ! id "$user" >/dev/null 2>&1; then
    useradd -m -s /bin/sh "$user"
    made_user=1
fi
id "$user"

step "Configuration: $work/pam_passage.conf and a PAM service of our own"
mkdir -m 0700 "$work/store"
cat >"$work/pam_passage.conf" <<CONF
app_id = $app
api_url = $api
ca_file = $work/certs/ca.pem
store = $work/store/%u
CONF
chmod 0644 "$work/pam_passage.conf"
mkdir "$work/pam.d"
cat >"$work/pam.d/passage-demo" <<PAM
auth     required pam_passage.so-path config=$work/pam_passage.conf
account  required pam_permit.so
session  optional pam_keyinit.so force revoke
session  required pam_passage.so-path config=$work/pam_passage.conf
PAM
sed -i "s|pam_passage.so-path|$build/pam_passage.so|" "$work/pam.d/passage-demo"
sed 's/^/    /' "$work/pam.d/passage-demo"

step "Issuing a Passage session and depositing its refresh token"
curl -s --cacert "$work/certs/ca.pem" -H 'Content-Type: application/json' \
    -d "{\"app_id\": \"$app\"}" "https://127.0.0.1:$port/_control/issue" |
    /usr/bin/python3 -c 'import json, sys
print(json.load(sys.stdin)["refresh_token"])' |
    "$build/passage-token" --config "$work/pam_passage.conf" store "$user"
echo "stored in $work/store/$user (mode $(stat -c %a "$work/store/$user"))"

step "One login: authenticate, account, open session, a program, close"
"$build/pam-driver" --confdir "$work/pam.d" passage-demo "$user" \
    auth acct setcred open \
    "run:echo '-- as' \$(id -un) 'in the session:';
         $build/passage-token status;
         echo '-- keyctl show @s:'; keyctl show @s | sed 1d;
         echo '-- passage-token prints the auth token:';
         $build/passage-token | cut -c1-40 | sed 's/\$/.../'" \
    close setcred-delete

step "What the server saw"
/usr/bin/python3 - "$work/server.log" <<'PY'
import hashlib, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    token = r.get("refresh_token") or ""
    fp = hashlib.sha256(token.encode()).hexdigest()[:8]
    print(f"{r['method']:6} {r['path']}  refresh token {fp}  -> {r['status']}")
PY

step "What became of each refresh token, by the server's books"
curl -s --cacert "$work/certs/ca.pem" "https://127.0.0.1:$port/_control/tokens" |
    /usr/bin/python3 -c 'import hashlib, json, sys
for token, info in json.load(sys.stdin)["tokens"].items():
    fp = hashlib.sha256(token.encode()).hexdigest()[:8]
    print("refresh token", fp + ":", info["state"])'

step "Afterwards"
if [ -e "$work/store/$user" ]; then
    echo "store entry still present"
else
    echo "store entry gone: the chain ended with the session (on_close=revoke)"
fi

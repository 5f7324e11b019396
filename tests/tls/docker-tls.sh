#!/bin/bash
# e2e: DOCKER_TLS_CERTDIR as docker:dind users expect it (issue 12, part 1).
#
# dind-init runs as PID 1 of a container (private mount, pid and net namespaces) with
# DOCKER_TLS_CERTDIR and DOCKER_HOST=tcp://127.0.0.1:2376 set, and Debian's Docker 20.10.
# Its session checks, over the pod's loopback:
#   - the Docker CLI with the client certificates works over tcp://127.0.0.1:2376, with no
#     flags: dind-init gave the session DOCKER_TLS_VERIFY and DOCKER_CERT_PATH;
#   - without client certificates it is refused (plain HTTP, and TLS without a client cert);
#   - the unix socket still answers.
# Then a second start on the same certificate directory keeps the same CA and server
# certificate, and the keys are root-owned 0600.
#
# Usage: BIN=target/debug/dind-init tests/tls/docker-tls.sh

NAME=tls
# shellcheck source=tests/helpers/pods.sh
. "$(dirname "$0")/../helpers/pods.sh"

CERTS=$T/certs
mkdir -p "$T/data"
cat >"$T/session.sh" <<EOF
#!/bin/sh
set -eu
export DOCKER_CONFIG=$T/dockercfg
[ "\${DOCKER_TLS_VERIFY:-}" = 1 ] || { echo "session: DOCKER_TLS_VERIFY not set"; exit 11; }
[ "\${DOCKER_CERT_PATH:-}" = "$CERTS/client" ] || { echo "session: DOCKER_CERT_PATH=\${DOCKER_CERT_PATH:-}"; exit 12; }
v=\$(docker version --format '{{.Server.Version}}') || { echo "session: docker over TLS failed"; exit 13; }
echo "session: over tcp://127.0.0.1:2376 with the client certificates: server \$v"
if env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker version >/dev/null 2>&1; then
	echo "session: plain HTTP to 2376 was accepted"; exit 14
fi
if env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker --tls --tlscacert "$CERTS/client/ca.pem" version >/dev/null 2>&1; then
	echo "session: TLS without a client certificate was accepted"; exit 15
fi
echo "session: refused without the client certificates"
env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker version --format '{{.Server.Version}}' >/dev/null ||
	{ echo "session: the unix socket does not answer"; exit 16; }
echo "session: the unix socket answers too"
EOF
chmod 0755 "$T/session.sh"

start() {
	container_start "$1" DOCKER_TLS_CERTDIR="$CERTS" DOCKER_HOST=tcp://127.0.0.1:2376 \
		DIND_DATA_ROOT="$T/data" DIND_LOG=info -- "$BIN" -- "$T/session.sh"
	wait_exit "$CPID" 180
	[[ $RC == 0 ]] || fail "start '$1': dind-init exited $RC"
	grep -q "session: refused without the client certificates" "$LOGS/$1.log" ||
		fail "start '$1': the session did not check the refusal"
	say "start '$1': TLS works with the client certificates, refused without; exit 0"
}

start first
for k in ca/key.pem server/key.pem; do
	[[ $(stat -c '%U %a' "$CERTS/$k") == "root 600" ]] || fail "$k is $(stat -c '%U %a' "$CERTS/$k"), want root 600"
done
for f in ca/cert.pem server/ca.pem server/cert.pem client/ca.pem client/cert.pem client/key.pem; do
	[[ -s $CERTS/$f ]] || fail "$CERTS/$f missing (docker:dind's layout)"
done
openssl x509 -in "$CERTS/server/cert.pem" -noout -ext extendedKeyUsage | grep -q "TLS Web Server Authentication" ||
	fail "server certificate lacks serverAuth"
openssl x509 -in "$CERTS/server/cert.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" ||
	fail "server certificate does not name 127.0.0.1"
ca1=$(sha256sum <"$CERTS/ca/cert.pem")
srv1=$(sha256sum <"$CERTS/server/cert.pem")
start second
[[ $(sha256sum <"$CERTS/ca/cert.pem") == "$ca1" ]] || fail "the restart made a new CA"
[[ $(sha256sum <"$CERTS/server/cert.pem") == "$srv1" ]] || fail "the restart remade a valid server certificate"
grep -q "ca/cert.pem is kept" "$LOGS/second.log" || fail "the second start does not say the CA is kept"
say "restart kept the same CA and server certificate"
echo "PASS: $NAME"

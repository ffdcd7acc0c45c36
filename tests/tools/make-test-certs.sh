#!/bin/sh
# Throwaway TLS material for the upload and Kubernetes tests, made fresh on
# every run so no key is ever checked in:
#
#   ca.crt ca.key              the CA the test servers' certificates chain to
#   server.crt server.key      for 127.0.0.1 (subjectAltName IP:127.0.0.1,
#                              DNS:localhost), signed by ca
#   wrong-host.crt wrong-host.key  signed by ca, but for DNS:wrong-host.invalid
#                              only: host name verification must refuse it
#   client.crt client.key      a client certificate (clientAuth), signed by ca
#   client-bundle.pem          client.crt followed by client.key
#   other-ca.crt other-ca.key  an unrelated CA: trusting it must fail
#
#   make-test-certs.sh DIR     DIR is created if missing; prints nothing on
#                              success, openssl's complaint and exit 1 if not
#
# P-256 keys: generated in milliseconds, accepted at OpenSSL's default
# security level.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

# openssl is chatty on stderr even when it works: show it only on failure
log=$(mktemp "${TMPDIR:-/tmp}/make-test-certs.XXXXXX")
trap 'rm -f "$log"' EXIT
run() {
	if ! "$@" >>"$log" 2>&1; then
		cat "$log" >&2
		echo "$0: failed: $*" >&2
		exit 1
	fi
}

newkey() {
	run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# a self-signed CA: name, subject
make_ca() {
	newkey "$1.key"
	run openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash"
}

# a leaf signed by ca: name, subject, extensions
make_leaf() {
	newkey "$1.key"
	run openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
	printf '%s\n' "$3" >"$1.ext"
	run openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
		-out "$1.crt" -days 2 -extfile "$1.ext"
	rm -f "$1.csr" "$1.ext"
}

leaf_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

make_ca ca "/CN=brasa test CA"
make_ca other-ca "/CN=brasa unrelated test CA"
make_leaf server "/CN=127.0.0.1" "$leaf_ext
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
make_leaf wrong-host "/CN=wrong-host.invalid" "$leaf_ext
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong-host.invalid"
make_leaf client "/CN=brasa test client" "$leaf_ext
extendedKeyUsage=clientAuth"
cat client.crt client.key >client-bundle.pem
rm -f ca.srl
# readable by the test servers whatever user they run as
chmod 644 ./*.crt ./*.key client-bundle.pem

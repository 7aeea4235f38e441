# Test certificates (sourced): EC P-256 keys, 2 days of validity.
#
#   tls_ca DIR NAME CN              DIR/NAME.pem, DIR/NAME.key: a CA
#   tls_issue DIR NAME CN CA SAN    DIR/NAME.pem: certificate and key
#                                   signed by CA (DIR/CA.pem), with the
#                                   subjectAltName SAN ("IP:...,DNS:...")
tls_key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

tls_ca() {
    # shellcheck disable=SC2086  # $tls_key: options
    openssl req -x509 $tls_key -keyout "$1/$2.key" -out "$1/$2.pem" -days 2 \
        -subj "/CN=$3" 2>/dev/null
}

tls_issue() {
    # shellcheck disable=SC2086
    openssl req $tls_key -keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$3" \
        2>/dev/null || return 1
    printf 'subjectAltName=%s\n' "$5" >"$1/$2.ext"
    openssl x509 -req -in "$1/$2.csr" -CA "$1/$4.pem" -CAkey "$1/$4.key" \
        -CAcreateserial -out "$1/$2.crt" -days 2 -extfile "$1/$2.ext" \
        2>/dev/null || return 1
    cat "$1/$2.crt" "$1/$2.key" >"$1/$2.pem"
}

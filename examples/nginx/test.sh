#!/usr/bin/env bash
# Tests of ngx_http_upstream_lb_module inside a real nginx: echo backends and
# a proxy, all under one mktemp -d prefix (no root-only path is used), stopped
# by a trap whatever happens. Builds the module first when needed (build.sh).
#
#   examples/nginx/test.sh        (KEEP_TMP=1 keeps the prefix for a look)
#
# Ends with one line "nginx: N passed, M failed" and exits non-zero on any
# failure. Runs in about 15 s.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok   $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# checke WHAT 'CONDITION': CONDITION is shell text, for && chains.
checke() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
summary() { echo "nginx: $PASS passed, $FAIL failed"; }

need_packages openssl || { FAIL=1; summary; exit 1; }
SO="$(module_path)" || { echo "build.sh failed" >&2; FAIL=1; summary; exit 1; }

setup_tmp
start_backends 3 || { FAIL=1; summary; exit 1; }

# a TLS backend, for the balancer's SSL session hooks
TLSB="$TMP/t1"
mkdir -p "$TLSB/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TLSB/key.pem" -out "$TLSB/cert.pem" -days 2 -subj /CN=localhost \
    >/dev/null 2>&1 || { bad "openssl makes a test certificate"; summary; exit 1; }
for try in 1 2 3 4 5; do
    TPORT=$(free_port)
    {
        common_conf 1
        cat <<EOF
http {
    access_log off;
$(http_paths_conf)
    server {
        listen 127.0.0.1:$TPORT ssl;
        ssl_certificate cert.pem;
        ssl_certificate_key key.pem;
        location / {
            add_header X-Backend t1;
            add_header X-Session-Reused \$ssl_session_reused;
            return 200 "t1\\n";
        }
    }
}
EOF
    } > "$TLSB/nginx.conf"
    start_nginx "$TLSB" 2>/dev/null && break
done
wait_port "$TPORT"

B1=127.0.0.1:${BPORT[1]}
B2=127.0.0.1:${BPORT[2]}
B3=127.0.0.1:${BPORT[3]}

PROXY="$TMP/proxy"
PPORT=$(free_port)
mkdir -p "$PROXY/tmp"

# proxy_conf UPSTREAMS [LOCATIONS]: the proxy's nginx.conf around the given
# upstream blocks; /NAME... passes to the upstream NAME.
proxy_conf() {
    echo "load_module $SO;"
    common_conf 1
    cat <<EOF
http {
    access_log off;
$(http_paths_conf)
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_next_upstream error timeout;
    proxy_connect_timeout 2s;
    add_header X-Upstream-Addr \$upstream_addr always;

$1

    server {
        listen 127.0.0.1:$PPORT;
        location = /lb_status { lb_status; }
        location ~ ^/([a-z]+) { proxy_pass http://\$1; }
${2:-}
    }
}
EOF
}

UPSTREAMS=$(cat <<EOF
    upstream weighted {
        lb round_robin;
        server $B1 weight=3;
        server $B2 weight=1;
        keepalive 16;
    }
    upstream eject {
        lb round_robin base_ejection_ms=2000 max_ejection_ms=2000
           recovery_successes=2 trial_ratio=0.2 slow_start_window_ms=0;
        server $B1;
        server $B2;
        server $B3 max_fails=3;
        keepalive 16;
    }
    upstream keyed {
        lb maglev maglev_table_size=1009 key=\$arg_user;
        server $B1;
        server $B2;
        server $B3;
    }
    upstream errs {
        lb least_request;
        server $B1;
    }
    upstream cancel {
        lb peak_ewma;
        server $B2;
    }
    upstream gone {
        lb round_robin;
        server $B1 down;
        server $B2 down;
    }
    upstream tls {
        lb round_robin;
        server 127.0.0.1:$TPORT;
    }
EOF
)

proxy_conf "$UPSTREAMS" "        location ^~ /tls { proxy_pass https://tls; }" \
    > "$PROXY/nginx.conf"

# --- nginx -t: the good configuration passes (with the max_fails warning)
t_out="$("$NGINX" -t -p "$PROXY/" -c "$PROXY/nginx.conf" 2>&1)"
check "nginx -t accepts the test configuration" grep -q "test is successful" <<<"$t_out"
check "max_fails is reported as ignored" grep -q '"max_fails" and "fail_timeout" of server .* are ignored by "lb"' <<<"$t_out"

# --- nginx -t refusals, each with its own message
refuses() {
    local what=$1 ups=$2 pattern=$3 dir="$TMP/bad" out
    mkdir -p "$dir/tmp"
    proxy_conf "$ups" > "$dir/nginx.conf"
    out="$("$NGINX" -t -p "$dir/" -c "$dir/nginx.conf" 2>&1)"
    if ! grep -q "test failed" <<<"$out"; then
        bad "nginx -t refuses $what (it passed)"
    elif ! grep -q -- "$pattern" <<<"$out"; then
        bad "nginx -t refuses $what (message: $(grep emerg <<<"$out" | head -1))"
    else
        ok "nginx -t refuses $what: $(grep -o 'emerg\] .*' <<<"$out" | head -1 | cut -c8-)"
    fi
}
refuses "an unknown strategy" \
    "upstream u { lb fastest; server $B1; }" \
    'unknown lb strategy "fastest": invalid argument'
refuses "an unknown option" \
    "upstream u { lb round_robin frobnicate=3; server $B1; }" \
    'unknown lb option "frobnicate": invalid argument'
refuses "an option value out of range" \
    "upstream u { lb least_request choice_count=9; server $B1; }" \
    'invalid value "9" of lb option "choice_count": invalid argument'
refuses "an option value that is not a number" \
    "upstream u { lb peak_ewma peak_ewma_tau_ms=fast; server $B1; }" \
    'invalid value "fast" of lb option "peak_ewma_tau_ms": not a number'
refuses "options in an order lb refuses" \
    "upstream u { lb round_robin base_ejection_ms=400000; server $B1; }" \
    'invalid value "400000" of lb option "base_ejection_ms": invalid argument'
refuses "a backup server" \
    "upstream u { lb round_robin; server $B1; server $B2 backup; }" \
    '"backup" server "'"$B2"'" is not supported by "lb"'
refuses "a backup server listed before lb" \
    "upstream u { server $B1; server $B2 backup; lb round_robin; }" \
    '"backup" server "'"$B2"'" is not supported by "lb"'
refuses "lb after keepalive" \
    "upstream u { server $B1; keepalive 16; lb round_robin; }" \
    '"lb" must come before "keepalive"'
refuses "key= with a strategy that ignores keys" \
    "upstream u { lb round_robin key=\$arg_user; server $B1; }" \
    '"key=" needs lb strategy "maglev" or "ring_hash", not "round_robin"'
refuses "zone" \
    "upstream u { lb round_robin; zone u 64k; server $B1; }" \
    '"zone" cannot be used with "lb"'
refuses "a duplicate lb" \
    "upstream u { lb round_robin; lb maglev; server $B1; }" \
    '"lb" is duplicate'

# --- start the proxy
# (a port may be taken between the check and the bind: take another)
for try in 1 2 3 4 5; do
    start_nginx "$PROXY" 2>/dev/null && break
    [ "$try" = 5 ] && { bad "proxy starts"; cat "$PROXY/start.log"; summary; exit 1; }
    PPORT=$(free_port)
    proxy_conf "$UPSTREAMS" "        location ^~ /tls { proxy_pass https://tls; }" \
        > "$PROXY/nginx.conf"
done
wait_port "$PPORT"

# get PATH COUNT: one line per request, "code backend upstream_addr conn_requests"
get() {
    local path=$1 n=$2
    curl -s -o /dev/null --max-time 10 \
        -w '%{http_code} %header{x-backend} %header{x-upstream-addr} %header{x-conn-requests}\n' \
        "http://127.0.0.1:$PPORT$path$( [[ $path == *\?* ]] && echo '&' || echo '?' )n=[1-$n]"
}
share() { awk -v b="$2" '$2 == b { n++ } END { print n + 0 }' <<<"$1"; }
codes() { awk '$1 != 200 { n++ } END { print n + 0 }' <<<"$1"; }

# --- weights 3:1 through keepalive 16 (lb underneath keepalive's get/free)
out="$(get /weighted 400)"
w1=$(share "$out" b1); w2=$(share "$out" b2)
check "weights 3:1: all 400 answered 200" [ "$(codes "$out")" = 0 ]
# Smooth weighted round robin is exact on one worker: 300/100; allow +-5
# points of share for the lb version that runs.
checke "weights 3:1: b1 $w1, b2 $w2 (b1 share 75% +-5)" \
    '[ "$w1" -ge 280 ] && [ "$w1" -le 320 ] && [ $((w1 + w2)) = 400 ]'
reused=$(awk '$4 > 1 { n++ } END { print n + 0 }' <<<"$out")
check "keepalive reuses backend connections ($reused of 400 on reused ones)" [ "$reused" -gt 300 ]

# --- ejection: stop b3; retries go elsewhere, no client sees a 502
out="$(get /eject 30)"
checke "eject: three backends share before the stop" \
    '[ "$(share "$out" b3)" -ge 8 ] && [ "$(codes "$out")" = 0 ]'
stop_nginx "${BDIR[3]}"
out="$(get /eject 60)"
tried3=$(grep -c "$B3" <<<"$out")
check "eject: no 502 while b3 is down (60 requests)" [ "$(codes "$out")" = 0 ]
check "eject: b3 answered none" [ "$(share "$out" b3)" = 0 ]
checke "eject: the failed tries on b3 ($tried3) were retried on another backend" \
    '[ "$tried3" -ge 1 ] && [ "$(grep -c "$B3, " <<<"$out")" = "$tried3" ]'
status="$(curl -s "http://127.0.0.1:$PPORT/lb_status")"
check "eject: lb_status shows b3 ejected" \
    grep -q "instance 3 $B3 server $B3 weight 1 capacity 0 healthy 0" <<<"$status"
out="$(get /eject 60)"
checke "eject: once ejected, b3 is not even tried ($(grep -c "$B3" <<<"$out") of 60)" \
    '[ "$(grep -c "$B3" <<<"$out")" = 0 ] && [ "$(codes "$out")" = 0 ]'

# --- recovery: restart b3; after the cool-down (at most 2 s here) it wins
# its share back
start_nginx "${BDIR[3]}"
wait_port "${BPORT[3]}"
sleep 2.2
back=0
for i in $(seq 20); do
    out="$(get /eject 30)"
    [ "$(codes "$out")" = 0 ] || break
    back=$(share "$out" b3)
    [ "$back" -ge 8 ] && break
    sleep 0.2
done
check "recovery: no error while b3 returns" [ "$(codes "$out")" = 0 ]
check "recovery: b3 is back to its third ($back of 30 in the last round)" [ "$back" -ge 8 ]
status="$(curl -s "http://127.0.0.1:$PPORT/lb_status")"
check "recovery: lb_status shows b3 healthy again" \
    grep -q "instance 3 $B3 server $B3 weight 1 capacity 0 healthy 1" <<<"$status"

# --- keyed selection: the same user always reaches the same backend
same=1; seen=""
for u in $(seq 1 24); do
    out="$(get "/keyed?user=user$u" 5)"
    n=$(awk '{ print $2 }' <<<"$out" | sort -u | wc -l)
    [ "$n" = 1 ] && [ "$(codes "$out")" = 0 ] || same=0
    seen="$seen $(awk 'NR == 1 { print $2 }' <<<"$out")"
done
distinct=$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | wc -l)
check "keyed: each of 24 users reached one backend in 5 requests" [ "$same" = 1 ]
check "keyed: the users spread over $distinct backends" [ "$distinct" = 3 ]

# --- outcomes: a 503 passed on to the client counts as a failure; a client
# that goes away before the answer counts as cancelled
out="$(get /errs/err 3)"
check "outcome: backend 503s reach the client" [ "$(awk '$1 == 503' <<<"$out" | wc -l)" = 3 ]
curl -s -o /dev/null --max-time 0.3 "http://127.0.0.1:$PPORT/cancel/slow" || true
# nginx sees the client leave at once (EPOLLRDHUP); allow a loaded machine 2 s
for i in $(seq 10); do
    sleep 0.2
    status="$(curl -s "http://127.0.0.1:$PPORT/lb_status")"
    awk '/^upstream cancel /{ f = 1; next } f { print; exit }' <<<"$status" \
        | grep -q "in_flight 0" && break
done
errs="$(awk '/^upstream errs /{ f = 1; next } f { print; exit }' <<<"$status")"
canc="$(awk '/^upstream cancel /{ f = 1; next } f { print; exit }' <<<"$status")"
check "outcome: 3 backend 503s counted as failures ($errs)" \
    grep -q "requests 3 successes 0 failures 3 cancelled 0" <<<"$errs"
check "outcome: the client that left counted as cancelled ($canc)" \
    grep -q "requests 1 successes 0 failures 0 cancelled 1 expired 0 in_flight 0" <<<"$canc"

# --- TLS: nginx calls the balancer's set_session/save_session on every
# connection; without keepalive here, each request is a new TLS connection
out="$(curl -s -o /dev/null -w '%{http_code} %header{x-session-reused}\n' \
    "http://127.0.0.1:$PPORT/tls?n=[1-10]")"
check "TLS backend: 10 answered 200" [ "$(awk '$1 == 200' <<<"$out" | wc -l)" = 10 ]
check "TLS backend: the saved session is reused ($(grep -c ' r$' <<<"$out") of 10)" \
    [ "$(grep -c ' r$' <<<"$out")" -ge 8 ]

# --- every server down: nothing to select, nginx answers 502 at once
out="$(get /gone 2)"
check "all servers down: 502" [ "$(awk '$1 == 502' <<<"$out" | wc -l)" = 2 ]

# --- the status page
status="$(curl -s -D "$TMP/h" "http://127.0.0.1:$PPORT/lb_status")"
check "lb_status: text/plain" grep -qi "content-type: text/plain" "$TMP/h"
check "lb_status: names lb, the worker and 7 upstreams" \
    grep -q "^lb [0-9.]*, worker [0-9]*, upstreams 7$" <<<"$status"
check "lb_status: weighted stats (400 requests, 400 successes)" \
    grep -q "requests 400 successes 400 failures 0" <<<"$status"
check "lb_status: per-instance health of weighted" \
    grep -q "instance 1 $B1 server $B1 weight 3 capacity 0 healthy 1 health 1.000" <<<"$status"

# --- reload keeps serving (new workers build new balancers)
reload_nginx "$PROXY"
sleep 0.5
out="$(get /weighted 40)"
check "after reload: all answered" [ "$(codes "$out")" = 0 ]
check "no alert or crash in the proxy's error log" \
    bash -c "! grep -E '\[(alert|emerg|crit)\]|exited on signal' '$PROXY/error.log'"

summary
[ "$FAIL" = 0 ]

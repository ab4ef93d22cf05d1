#!/usr/bin/env bash
# Benchmark of ngx_http_upstream_lb_module against nginx's own balancers (not
# part of the tests). Echo backends and one proxy nginx under a mktemp -d
# prefix, as in test.sh; only the balancing line of the upstream changes:
#
#   nginx round robin (no line), least_conn, random two least_conn,
#   lb round_robin, lb least_request, lb peak_ewma, lb weighted_response_time,
#   lb adaptive
#
# all with keepalive 32, proxy_http_version 1.1, proxy_set_header Connection "",
# access_log off, proxy_next_upstream error timeout; worker_processes 1, then 2.
#
# Scenarios:
#   1  four equal backends, no delay (the proxy's own cost)
#   2  four backends, one 10x slower (echo_sleep 0.001 / 0.01; SLOW_DELAYS
#      and CONNS_SLOW change the delays and wrk's connections)
#   3  four backends, one answers 503 from the middle of each run on: its
#      location tests for a file in its prefix (`if (-f .../fail)`), which
#      the bench creates halfway through the run and removes after it
#   4  weights 3:1:1:1
#
# Every run starts the proxy afresh (every balancer's state, nginx's
# max_fails included, starts from zero), runs wrk --latency for RUN_S seconds
# and reads each backend's request counter (stub_status) before and after,
# and the CPU time the proxy's workers spent (/proc/PID/stat), per request:
# on a shared machine that figure moves much less than requests/s.
# The first round of each scenario and worker count is a warm-up, discarded;
# then RUNS rounds, the variants interleaved within each round; the tables
# give the median of each column over the rounds.
#
#   examples/nginx/bench.sh > results.md           (about 20 minutes)
#   RUN_S=3 RUNS=5 WARM_S=1 CONNS=64 THREADS=1 SCENARIOS="1 2 3 4" \
#   WORKERS="1 2" VARIANTS="rr lc ..." examples/nginx/bench.sh
#   RELOAD_ONLY=1 examples/nginx/bench.sh          (only the reload check)
#   REQUEST_LOG=1 ...   latency columns from the proxy's access log
#                       ($request_time, 1 ms steps) instead of wrk's
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

RUN_S=${RUN_S:-3}
RUNS=${RUNS:-5}
WARM_S=${WARM_S:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
SCENARIOS=${SCENARIOS:-1 2 3 4}
WORKERS=${WORKERS:-1 2}
VARIANTS=${VARIANTS:-rr lc r2 lb_rr lb_lr lb_pe lb_wrt lb_ad}
RELOADS=${RELOADS:-5}
# scenario 2: the fast and the slow backend's delay, and wrk's connections
SLOW_DELAYS=${SLOW_DELAYS:-0.001 0.01}
CONNS_SLOW=${CONNS_SLOW:-$CONNS}

need_packages wrk || exit 1
SO="$(module_path)" || exit 1
setup_tmp

line_of() {
    case $1 in
        rr)     echo "" ;;
        lc)     echo "least_conn;" ;;
        r2)     echo "random two least_conn;" ;;
        lb_rr)  echo "lb round_robin;" ;;
        lb_lr)  echo "lb least_request;" ;;
        lb_pe)  echo "lb peak_ewma;" ;;
        lb_wrt) echo "lb weighted_response_time;" ;;
        lb_ad)  echo "lb adaptive;" ;;
        # not in the default list: lb's latency outlier ejection at 5x the
        # median instead of its default 10x (scenario 2's slow backend is
        # exactly 10x)
        lb_wrt5) echo "lb weighted_response_time latency_outlier_ratio=5;" ;;
        lb_pe5)  echo "lb peak_ewma latency_outlier_ratio=5;" ;;
        lb_ad5)  echo "lb adaptive latency_outlier_ratio=5;" ;;
    esac
}
label_of() {
    case $1 in
        rr)     echo "nginx round robin" ;;
        lc)     echo "nginx least_conn" ;;
        r2)     echo "nginx random two least_conn" ;;
        *)      line_of "$1" | tr -d ';' ;;
    esac
}

# backends for a scenario: delays and weights
scenario_setup() {
    case $1 in
        1) DELAYS=(0 0 0 0);                WEIGHTS=(1 1 1 1); PATH_=/ ;;
        2) set -- $SLOW_DELAYS
           DELAYS=("$1" "$1" "$1" "$2");    WEIGHTS=(1 1 1 1); PATH_=/ ;;
        3) DELAYS=(0 0 0 0);                WEIGHTS=(1 1 1 1); PATH_=/flip ;;
        4) DELAYS=(0 0 0 0);                WEIGHTS=(3 1 1 1); PATH_=/ ;;
    esac
}
scenario_name() {
    case $1 in
        1) echo "(1) four equal backends, no delay" ;;
        2) set -- $SLOW_DELAYS
           echo "(2) one of four backends 10x slower ($1 s vs $2 s, wrk -c$CONNS_SLOW)" ;;
        3) echo "(3) one of four backends answers 503 from mid-run on" ;;
        4) echo "(4) weights 3:1:1:1, no delay" ;;
    esac
}

# a status location on every backend, for its request counter
backend_with_status() {
    backend_conf "$@" | sed 's|^        location ~ /slow\$ {|        location = /_status { stub_status; }\n&|'
}

start_scenario_backends() {
    local i
    for i in 1 2 3 4; do
        [ -n "${BDIR[$i]:-}" ] && stop_nginx "${BDIR[$i]}"
        BDIR[$i]="$TMP/b$i"
        mkdir -p "${BDIR[$i]}"
        rm -f "${BDIR[$i]}/fail"
        [ -n "${BPORT[$i]:-}" ] || BPORT[$i]=$(free_port)
        backend_with_status "b$i" "${BPORT[$i]}" "${DELAYS[$((i - 1))]}" "${BDIR[$i]}" \
            > "${BDIR[$i]}/nginx.conf"
        start_nginx "${BDIR[$i]}" || return 1
    done
    for i in 1 2 3 4; do wait_port "${BPORT[$i]}" || return 1; done
}

PROXY="$TMP/proxy"
PPORT=$(free_port)
mkdir -p "$PROXY/tmp"

proxy_conf() {
    local variant=$1 workers=$2 i w
    echo "load_module $SO;"
    common_conf "$workers"
    cat <<EOF
http {
$( if [ -n "${REQUEST_LOG:-}" ]; then
    echo '    log_format rt $request_time;'
    echo '    access_log access.log rt buffer=256k;'
else
    echo '    access_log off;'
fi )
$(http_paths_conf)
    upstream backends {
        $(line_of "$variant")
EOF
    for i in 1 2 3 4; do
        w=${WEIGHTS[$((i - 1))]}
        echo "        server 127.0.0.1:${BPORT[$i]}$( [ "$w" != 1 ] && echo " weight=$w");"
    done
    cat <<EOF
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$PPORT backlog=4096;
        location = /lb_status { lb_status; }
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
        }
    }
}
EOF
}

counter() {
    curl -s --max-time 2 "http://127.0.0.1:$1/_status" | awk 'NR == 3 { print $3 }'
}

cat > "$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d %d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
        e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

# CPU time (user + system, clock ticks) of the proxy's workers so far
TICK=$(getconf CLK_TCK)
proxy_ticks() {
    local master pids
    master=$(cat "$PROXY/nginx.pid")
    pids=$(pgrep -P "$master")
    # fields 14 and 15 of /proc/PID/stat; the name (field 2) has no spaces
    for p in $pids; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ t += $1 } END { print t + 0 }'
}

# one_run VARIANT WORKERS SECONDS: prints
# "rps p50 p99 p999 non2xx errors s1 s2 s3 s4 cpu_us_per_request"
one_run() {
    local variant=$1 workers=$2 secs=$3 i before after out res t0 t1
    stop_nginx "$PROXY"
    proxy_conf "$variant" "$workers" > "$PROXY/nginx.conf"
    start_nginx "$PROXY" || return 1
    wait_port "$PPORT" || return 1
    t0=$(proxy_ticks)
    for i in 1 2 3 4; do rm -f "${BDIR[$i]}/fail"; before[$i]=$(counter "${BPORT[$i]}"); done
    if [ "$SCEN" = 3 ]; then
        # halfway through the run, backend 4 starts answering 503
        ( sleep "$(awk -v s="$secs" 'BEGIN { print s / 2 }')"; touch "${BDIR[4]}/fail" ) &
    fi
    out="$(wrk -t"$THREADS" -c"$( [ "$SCEN" = 2 ] && echo "$CONNS_SLOW" || echo "$CONNS")" \
        -d"${secs}s" --latency -s "$TMP/report.lua" \
        "http://127.0.0.1:$PPORT$PATH_" 2>&1)"
    wait
    t1=$(proxy_ticks)
    rm -f "${BDIR[4]}/fail"
    for i in 1 2 3 4; do after[$i]=$(counter "${BPORT[$i]}"); done
    res="$(grep '^RESULT' <<<"$out")"
    [ -n "$res" ] || { echo "wrk failed: $out" >&2; return 1; }
    if [ -n "${REQUEST_LOG:-}" ]; then
        # the latency of each request as the proxy saw it, without wrk's
        # correction for coordinated omission (see the README): the log is
        # complete once the proxy has stopped
        stop_nginx "$PROXY"
        res="$(sort -g "$PROXY/access.log" | awk -v r="$res" '
            { v[NR] = $1 }
            function at(q,  i) { i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; return v[i] * 1e6 }
            END { split(r, f, " "); f[4] = at(0.5); f[5] = at(0.99); f[6] = at(0.999)
                  for (i = 1; i <= 11; i++) printf "%s%s", f[i], (i < 11 ? " " : "\n") }')"
        rm -f "$PROXY/access.log"
    fi
    # shares: each backend's requests (less the counter reads) over the sum
    awk -v b1="${before[1]}" -v b2="${before[2]}" -v b3="${before[3]}" -v b4="${before[4]}" \
        -v a1="${after[1]}" -v a2="${after[2]}" -v a3="${after[3]}" -v a4="${after[4]}" \
        -v ticks=$((t1 - t0)) -v hz="$TICK" '
        { d1 = a1 - b1 - 1; d2 = a2 - b2 - 1; d3 = a3 - b3 - 1; d4 = a4 - b4 - 1
          t = d1 + d2 + d3 + d4; if (t <= 0) t = 1
          printf "%.0f %.3f %.3f %.3f %d %d %.1f %.1f %.1f %.1f %.1f\n",
              $2 / ($3 / 1e6), $4 / 1000, $5 / 1000, $6 / 1000, $7, $8 + $9 + $10 + $11,
              100 * d1 / t, 100 * d2 / t, 100 * d3 / t, 100 * d4 / t,
              ticks * 1e6 / hz / ($2 > 0 ? $2 : 1) }' <<<"$res"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- the reload check: RELOADS reloads under load; master and worker RSS
# after each (the master parses every new configuration and runs lb's scratch
# checks, the workers build their balancers), for lb and, to compare, for
# nginx's round robin
rss_of() { ps -o rss= -p "$1" 2>/dev/null | awk '{ printf "%s ", $1 }'; }

reload_check() {
    local variant=$1 workers=2 pids i out master wrk_pid
    SCEN=1
    scenario_setup 1
    [ -n "${BDIR[1]:-}" ] || start_scenario_backends || return 1
    stop_nginx "$PROXY"
    proxy_conf "$variant" "$workers" > "$PROXY/nginx.conf"
    start_nginx "$PROXY" && wait_port "$PPORT" || return 1
    : > "$PROXY/error.log"
    wrk -t"$THREADS" -c"$CONNS" -d$((RELOADS * 3 + 4))s -s "$TMP/report.lua" \
        "http://127.0.0.1:$PPORT/" > "$TMP/reload-wrk.txt" 2>&1 &
    wrk_pid=$!
    sleep 2
    echo
    echo "### Reloads under load: $(label_of "$variant") ($RELOADS x \`nginx -s reload\`, 3 s apart, worker_processes 2, wrk -c$CONNS)"
    echo
    echo "| after reload | master RSS (KiB) | worker pids | worker RSS (KiB) |"
    echo "|---|---:|---|---|"
    master=$(cat "$PROXY/nginx.pid")
    pids=$(pgrep -P "$master" | paste -sd,)
    echo "| 0 (2 s of load) | $(rss_of "$master")| ${pids//,/ } | $(rss_of "$pids")|"
    for i in $(seq 1 "$RELOADS"); do
        reload_nginx "$PROXY"
        sleep 3
        pids=$(pgrep -P "$master" | paste -sd,)
        echo "| $i | $(rss_of "$master")| ${pids//,/ } | $(rss_of "$pids")|"
    done
    wait "$wrk_pid"
    out="$(grep '^RESULT' "$TMP/reload-wrk.txt")"
    echo
    awk '{ printf "wrk over the reloads: %d requests, non-2xx %d; socket errors: connect %d, read %d, write %d, timeout %d\n", $2, $7, $8, $9, $10, $11 }' <<<"$out"
    echo
    echo "error log lines at [error] or worse: $(grep -cE '\[(error|crit|alert|emerg)\]' "$PROXY/error.log")"
    grep -E '\[(error|crit|alert|emerg)\]' "$PROXY/error.log" | head -5 | sed 's/^/    /'
}

echo "# nginx + lb benchmark"
echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); nproc: $(nproc); nginx: $("$NGINX" -v 2>&1 | cut -d/ -f2); lb: $(grep -m1 '^version' "$here/../../Cargo.toml" | cut -d'"' -f2); wrk -t$THREADS -c$CONNS -d${RUN_S}s --latency; $RUNS rounds (median), warm-up ${WARM_S}s discarded"
echo
echo '```'
lscpu | head -n 15
echo '```'
echo
echo "load at start: $(uptime | sed 's/.*load average/load average/')"

if [ -n "${NO_RELOAD:-}" ]; then
    reload_check() { :; }
fi

if [ -n "${RELOAD_ONLY:-}" ]; then
    reload_check lb_pe
    reload_check rr
    exit
fi

for SCEN in $SCENARIOS; do
    scenario_setup "$SCEN"
    start_scenario_backends || exit 1
    for W in $WORKERS; do
        raw="$TMP/raw-$SCEN-$W"
        : > "$raw"
        for v in $VARIANTS; do one_run "$v" "$W" "$WARM_S" > /dev/null || exit 1; done
        for round in $(seq 1 "$RUNS"); do
            for v in $VARIANTS; do
                r="$(one_run "$v" "$W" "$RUN_S")" || exit 1
                echo "$v $round $r" >> "$raw"
                echo "  scenario $SCEN workers $W round $round $v: $r" >&2
            done
        done
        echo
        echo "### $(scenario_name "$SCEN"), worker_processes $W$( [ -n "${REQUEST_LOG:-}" ] && echo ", latency per request at the proxy (\$request_time)")"
        echo
        echo "| variant | req/s | req/s min-max | proxy CPU us/req | p50 ms | p99 ms | p99.9 ms | non-2xx | socket errors | b1 % | b2 % | b3 % | b4 % |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for v in $VARIANTS; do
            col() { awk -v v="$v" -v c="$1" '$1 == v { print $c }' "$raw" | median; }
            range="$(awk -v v="$v" '$1 == v { print $3 }' "$raw" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')"
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                "$(label_of "$v")" "$(col 3)" "$range" "$(col 13)" "$(col 4)" "$(col 5)" "$(col 6)" \
                "$(col 7)" "$(col 8)" "$(col 9)" "$(col 10)" "$(col 11)" "$(col 12)"
        done
        cp "$raw" "${RAW_DIR:-$TMP}/" 2>/dev/null || true
    done
done

reload_check lb_pe
reload_check rr
echo
echo "load at end: $(uptime | sed 's/.*load average/load average/')"

# Shared by test.sh and bench.sh (sourced, not run): echo backends and a proxy
# nginx, each its own nginx master under one mktemp -d prefix with its own
# pid file, error log and temp paths, and a cleanup that stops every master
# started here (by the pid in its own pid file) whatever happens.
#
# Needs: nginx, libnginx-mod-http-echo, curl (installed with apt-get when
# missing and running as root).

LIB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NGINX=${NGINX:-/usr/sbin/nginx}
ECHO_MODULE=${ECHO_MODULE:-/usr/lib/nginx/modules/ngx_http_echo_module.so}

need_packages() {
    local missing=()
    [ -x "$NGINX" ] || missing+=(nginx)
    [ -f "$ECHO_MODULE" ] || missing+=(libnginx-mod-http-echo)
    command -v curl >/dev/null || missing+=(curl)
    [ -f /usr/share/nginx/src/conf_flags ] || missing+=(nginx-dev)
    for p in "$@"; do
        command -v "$p" >/dev/null || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "installing ${missing[*]}" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 || {
            echo "apt-get install ${missing[*]} failed" >&2; return 1; }
    else
        echo "missing: ${missing[*]} (apt-get install them)" >&2
        return 1
    fi
}

# The module, built (or rebuilt when stale) by build.sh.
module_path() {
    "$LIB_HERE/build.sh" | tail -1
}

# Every master started here, for cleanup (pid files, read when stopping).
STARTED_PREFIXES=()

setup_tmp() {
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/lb-nginx.XXXXXX")"
    # Workers drop to "nobody" when the master runs as root: they must be
    # able to reach the temp paths below.
    chmod 755 "$TMP"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local p pid
    for p in "${STARTED_PREFIXES[@]}"; do
        pid="$(cat "$p/nginx.pid" 2>/dev/null || true)"
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for p in "${STARTED_PREFIXES[@]}"; do
        pid="$(cat "$p/nginx.pid" 2>/dev/null || true)"
        wait_gone "$pid"
    done
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# alive PID: running, not exited (a daemonized master that exited stays a
# zombie until init reaps it, which some containers' init does only now and
# then).
alive() {
    local st
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

wait_gone() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    for i in $(seq 200); do
        alive "$pid" || return 0
        sleep 0.02
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# A TCP port on 127.0.0.1 that nothing listens on now, below the kernel's
# ephemeral range (a client socket may hold any port in that range).
free_port() {
    local p lo
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$lo" -gt 12000 ] || lo=32768
    while :; do
        p=$((10000 + RANDOM % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            case " ${USED_PORTS:-} " in *" $p "*) continue ;; esac
            USED_PORTS="${USED_PORTS:-} $p"
            echo "$p"
            return
        fi
    done
}

# The part of every nginx.conf that keeps an instance inside its prefix.
common_conf() {
    local workers=$1
    cat <<EOF
worker_processes $workers;
pid nginx.pid;
lock_file nginx.lock;
error_log error.log ${ERROR_LOG_LEVEL:-warn};
events { worker_connections 4096; }
EOF
}

http_paths_conf() {
    cat <<EOF
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
EOF
}

# backend_conf NAME PORT [DELAY] DIR: answers its own name; .../slow waits 1 s,
# .../err answers 503, .../flip answers 503 while the file "fail" exists in its
# prefix (scenario 3 of the bench: one touch turns it failing, no reload).
backend_conf() {
    local name=$1 port=$2 delay=${3:-0} dir=$4
    {
        echo "load_module $ECHO_MODULE;"
        common_conf 1
        cat <<EOF
http {
    access_log off;
$(http_paths_conf)
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        add_header X-Backend $name always;
        add_header X-Conn-Requests \$connection_requests always;
        location / {
$( [ "$delay" != 0 ] && echo "            echo_sleep $delay;" )
            echo $name;
        }
        location ~ /slow$ {
            echo_sleep 1;
            echo $name;
        }
        location ~ /err$ {
            return 503;
        }
        location ~ /flip$ {
            if (-f $dir/fail) {
                return 503;
            }
$( [ "$delay" != 0 ] && echo "            echo_sleep $delay;" )
            echo $name;
        }
    }
}
EOF
    }
}

# start_nginx DIR: starts the master configured in DIR/nginx.conf.
start_nginx() {
    local dir=$1
    mkdir -p "$dir/tmp"
    case " ${STARTED_PREFIXES[*]} " in
        *" $dir "*) ;;
        *) STARTED_PREFIXES+=("$dir") ;;
    esac
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" 2>>"$dir/start.log" || {
        cat "$dir/start.log" "$dir/error.log" 2>/dev/null >&2
        return 1
    }
    local i
    for i in $(seq 100); do
        [ -s "$dir/nginx.pid" ] && return 0
        sleep 0.02
    done
    echo "nginx in $dir did not write its pid file" >&2
    return 1
}

# stop_nginx DIR: fast shutdown, waits until the master is gone.
stop_nginx() {
    local dir=$1 pid
    pid="$(cat "$dir/nginx.pid" 2>/dev/null || true)"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid"
    rm -f "$dir/nginx.pid"
}

# reload_nginx DIR: SIGHUP, waits until the new workers run.
reload_nginx() {
    local dir=$1
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -s reload 2>>"$dir/start.log"
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT.
wait_port() {
    local i
    for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.02
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# start_backends N [DELAY...]: backends b1..bN on fresh ports; BPORT[i] and
# BDIR[i] name them.
declare -a BPORT BDIR
start_backends() {
    local n=$1 i delay
    shift
    local try
    for i in $(seq 1 "$n"); do
        delay=${1:-0}
        [ $# -gt 0 ] && shift
        BDIR[$i]="$TMP/b$i"
        mkdir -p "${BDIR[$i]}"
        # a port may be taken between the check and the bind: take another
        for try in 1 2 3 4 5; do
            BPORT[$i]=$(free_port)
            backend_conf "b$i" "${BPORT[$i]}" "$delay" "${BDIR[$i]}" > "${BDIR[$i]}/nginx.conf"
            start_nginx "${BDIR[$i]}" 2>/dev/null && break
            [ "$try" = 5 ] && { echo "backend b$i did not start" >&2; return 1; }
        done
    done
    for i in $(seq 1 "$n"); do wait_port "${BPORT[$i]}"; done
}

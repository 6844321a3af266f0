#!/usr/bin/env bash
# Concurrent registered WSS clients held by one server (issue 6): sipwarden against Kamailio 5.6
# with its websocket and tls modules (bench/kamailio-ws/), in one run, on the same load, both driven
# by the project's load client (bench/loadclient: `sipwarden-load hold`). Everything on loopback.
#
# Per server, on a freshly started server:
#   N clients, users u000000 .. u<N-1> (password pw-<user>, realm example.test, MD5 digest as
#   Kamailio's cfg), each on its own WSS connection from one of SOURCES source addresses
#   (127.0.0.2 ..), opened at RATE per second with at most INFLIGHT being set up at once: TCP, TLS,
#   the WebSocket upgrade (Sec-WebSocket-Protocol: sip, Origin https://example.test), then
#   REGISTER -> 401 -> REGISTER with credentials -> 200, as JsSIP sends it (Via SIP/2.0/WSS
#   <random>.invalid, Contact <sip:user@<random>.invalid;transport=ws;ob>;+sip.instance;reg-id=1,
#   Expires EXPIRES). Every client refreshes its binding when REFRESH_AT of the granted expiry has
#   passed (a new challenge each time, as JsSIP), answers the server's WebSocket pings, and holds
#   its connection HOLD seconds after the ramp, then closes it (close frame 1000).
#   The ramp pauses at N/2 and at N, once every started client has registered or failed, for
#   SETTLE seconds; then the server's memory is sampled (VmRSS and VmHWM from /proc/PID/status,
#   Pss from /proc/PID/smaps_rollup, summed over the server's processes: Kamailio runs several
#   and its shared memory shows in each one's RSS, so PSS is its meaningful total; sipwarden is one
#   process). Samples: 0 (before the first connection), N/2, N (ramp end), hold end, and after the
#   client closed everything. Memory per connection = (sample at N - sample at 0) / connections
#   open, and the slope between N/2 and N.
#   Reported: connected, registered, refreshes passed/failed, connections the server dropped (with
#   the WebSocket close code or error), the ramp time (without the sampling pauses), connection
#   set-up and REGISTER times, the server's CPU over the whole run, the client's own memory.
#   PASS = every client registered, no refresh failed, no connection dropped.
#
# Usage: bench/ws_load.sh                 (after `make build` and building sipwarden-load)
#   N=1000 HOLD=30 bench/ws_load.sh       (a smoke run)
#   SERVERS=kamailio N=10000 bench/ws_load.sh
# Knobs (environment):
#   N [10000] clients   RATE [200] new connections per second   INFLIGHT [200] set-ups at once
#   HOLD [300] seconds held after the ramp (DURATION is an alias)   EXPIRES [300] Expires asked for
#   REFRESH_AT [0.5]   SETTLE [5] seconds before each memory sample   SOURCES [8] source addresses
#   SERVERS ["kamailio sipwarden"]   WORKERS [2] sipwarden workers   CHILDREN [2] Kamailio
#   KAM_MEM [""] Kamailio's memory manager: "" keeps its default (q_malloc, which Debian's
#     build compiles with DBG_SR_MEMORY: about half of its CPU per REGISTER here); "tlsf" or "fm": -x
#   children and tcp_children   SHM_MB [8192] Kamailio shared memory (-m)   PKG_MB [64] (-M)
#   KEEPALIVE [30] Kamailio's websocket keepalive_timeout (sipwarden pings after 30 s idle)
#   KEY [p256] server key: p256 or rsa2048   WSS_PORT [8443]   SIP_PORT [5060] (UDP health check)
#   SIPWARDEN_BIN [build/release/sipwarden]   LOAD_BIN [sipwarden-load beside SIPWARDEN_BIN, else
#   build/h-wsload/sipwarden-load]   LOGS [/tmp/ws_load-<time>] logs and JSON kept there
# Limits: one descriptor per connection in the client and in the server; both run under this
# shell's RLIMIT_NOFILE, raised to its hard limit. N + 200 above the hard limit is refused up front.
# Every process this script starts runs under `timeout` and is killed by id on exit.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${N:-10000}
RATE=${RATE:-200}
INFLIGHT=${INFLIGHT:-200}
HOLD=${HOLD:-${DURATION:-300}}
EXPIRES=${EXPIRES:-300}
REFRESH_AT=${REFRESH_AT:-0.5}
SETTLE=${SETTLE:-5}
SOURCES=${SOURCES:-8}
SERVERS=${SERVERS:-"kamailio sipwarden"}
WORKERS=${WORKERS:-2}
CHILDREN=${CHILDREN:-2}
SHM_MB=${SHM_MB:-8192}
PKG_MB=${PKG_MB:-64}
KEEPALIVE=${KEEPALIVE:-30}
KEY=${KEY:-p256}
WSS_PORT=${WSS_PORT:-8443}
SIP_PORT=${SIP_PORT:-5060}
SIPWARDEN=${SIPWARDEN_BIN:-${SIPWARDEN:-$ROOT/build/release/sipwarden}}
if [ -z "${LOAD_BIN:-}" ]; then
    LOAD_BIN=$(dirname "$SIPWARDEN")/sipwarden-load
    [ -x "$LOAD_BIN" ] || LOAD_BIN=$ROOT/build/h-wsload/sipwarden-load
fi
LOGS=${LOGS:-/tmp/ws_load-$(date +%Y%m%d-%H%M%S)}
CLK_TCK=$(getconf CLK_TCK)
IP=127.0.0.1
KCFG=$HERE/kamailio-ws

die() { echo "ERROR: $*" >&2; exit 1; }
for b in kamailio sipsak python3 openssl timeout ss; do command -v "$b" >/dev/null || die "missing $b (bash scripts/setup.sh)"; done
[ -x "$LOAD_BIN" ] || die "no load client at $LOAD_BIN (build the sipwarden-load target, or set LOAD_BIN)"
"$LOAD_BIN" hold --help 2>/dev/null | grep -q "^  hold " || die "$LOAD_BIN has no hold mode (an older build): rebuild it, or set LOAD_BIN"
case " $SERVERS " in *" sipwarden "*) [ -x "$SIPWARDEN" ] || die "no $SIPWARDEN: run make build, or set SIPWARDEN_BIN" ;; esac
case " $SERVERS " in *" kamailio "*)
    for m in websocket xhttp tls; do
        ls /usr/lib/*/kamailio/modules/$m.so >/dev/null 2>&1 || die "Kamailio's $m module is missing (apt-get install kamailio-websocket-modules kamailio-tls-modules)"
    done ;; esac
[ -f "$KCFG/kamailio-ws.cfg" ] || die "no $KCFG/kamailio-ws.cfg"
[ "$SOURCES" -ge 1 ] && [ "$SOURCES" -le 200 ] || die "SOURCES=$SOURCES: 1..200"
for p in "$WSS_PORT" "$SIP_PORT"; do
    [ -z "$(ss -Hlntu "sport = :$p" 2>/dev/null)" ] || die "port $p is in use on this machine"
done

# One descriptor per connection in the client and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] || [ "$NOFILE" -ge $((N + 200)) ] ||
    die "N=$N needs $((N + 200)) descriptors per process (client and server), RLIMIT_NOFILE is $NOFILE (hard $(ulimit -Hn)); raising the hard limit needs CAP_SYS_RESOURCE (prlimit, limits.conf, systemd LimitNOFILE). Largest N here: $((NOFILE - 200))"
PER_SOURCE=$(( (N + SOURCES - 1) / SOURCES ))
read -r PLO PHI < /proc/sys/net/ipv4/ip_local_port_range
[ "$PER_SOURCE" -le $((PHI - PLO)) ] || die "N=$N over SOURCES=$SOURCES is $PER_SOURCE connections per source address, more than the $((PHI - PLO)) ephemeral ports: raise SOURCES"
LAST_SRC="127.0.0.$((1 + SOURCES))"

mkdir -p "$LOGS" || die "cannot create $LOGS"
RUN=$(mktemp -d /tmp/sipwarden-ws-bench.XXXXXX)

OWNED=""
descendants() {
    local p
    for p in "$@"; do
        echo "$p"
        descendants $(cat /proc/"$p"/task/*/children 2>/dev/null)
    done
}
cleanup() {
    local p alive
    OWNED=$(descendants $OWNED | sort -un)
    for p in $OWNED; do kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        alive=""
        for p in $OWNED; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 0.2
    done
    for p in $OWNED; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn BOUND LOG CMD...: CMD under `timeout BOUND`; WRAP = timeout's pid, CHILD = CMD's pid
spawn() {
    local bound=$1 log=$2; shift 2
    timeout -k 5 "$bound" "$@" > "$log" 2>&1 < /dev/null &
    WRAP=$!; CHILD=""
    OWNED="$OWNED $WRAP"
    for _ in $(seq 100); do
        CHILD=$(cat /proc/"$WRAP"/task/*/children 2>/dev/null | awk '{print $1}')
        [ -n "$CHILD" ] && break; sleep 0.05
    done
    [ -n "$CHILD" ] || die "$1 did not start"
    OWNED="$OWNED $CHILD"
}
forget() {
    local p keep=""
    for p in $OWNED; do case " $* " in *" $p "*) ;; *) keep="$keep $p" ;; esac; done
    OWNED=$keep
}
stop_pids() {
    local p alive
    for p in "$@"; do kill "$p" 2>/dev/null; done
    for _ in $(seq 150); do
        alive=""; for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 0.1
    done
    for p in "$@"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    forget "$@"
    return 0
}
ticks() {  # utime+stime of the given processes (all their threads), in clock ticks
    local p s=0
    for p in "$@"; do [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{sub(/^.*\) /,""); print $12+$13}' "/proc/$p/stat"))); done
    echo $s
}
memory_kib() {  # "RSS PSS" in KiB, summed over the given processes
    local p pss=0 rss=0 v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null); pss=$((pss + ${v:-0}))
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null); rss=$((rss + ${v:-0}))
    done
    echo "$rss $pss"
}

# ---------------------------------------------------------------- certificates (openssl CLI)
make_pki() {
    local d=$RUN/pki keyopt
    mkdir -p "$d"
    case $KEY in
        rsa2048) keyopt=(-newkey rsa:2048) ;;
        p256) keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
        *) die "KEY=$KEY: rsa2048 or p256" ;;
    esac
    openssl req -x509 -nodes "${keyopt[@]}" -days 365 -subj "/CN=sipwarden bench root CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$d/root.key" -out "$d/root.crt" 2>/dev/null || die "openssl (root) failed"
    openssl req -new -nodes "${keyopt[@]}" -subj "/CN=example.test" -keyout "$d/key.pem" -out "$d/server.csr" \
        2>/dev/null || die "openssl (csr) failed"
    printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:example.test,DNS:localhost,IP:127.0.0.1\n" > "$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/root.crt" -CAkey "$d/root.key" -CAcreateserial -days 365 \
        -extfile "$d/ext" -out "$d/chain.pem" 2>/dev/null || die "openssl (sign) failed"
    chmod 600 "$d/key.pem"
    CA=$d/root.crt; CERT=$d/chain.pem; KEYFILE=$d/key.pem
}

# ---------------------------------------------------------------- servers
SPID=""; SWRAP=""; PIDS=""
BOUND=$(( N / RATE + HOLD + 4 * (SETTLE + 40) + 900 ))
answers_options() { sipsak -s "sip:$IP:$SIP_PORT" >/dev/null 2>&1; }

start_kamailio() {
    local d=$RUN/kamailio
    rm -rf "$d"; mkdir -p "$d"
    cp "$KCFG/kamailio-ws.cfg" "$KCFG/tls.cfg" "$d/"
    cp "$CERT" "$d/chain.pem"; cp "$KEYFILE" "$d/key.pem"
    spawn "$BOUND" "$RUN/server.log" kamailio -f "$d/kamailio-ws.cfg" -DD -E -m "$SHM_MB" -M "$PKG_MB" ${KAM_MEM:+-x "$KAM_MEM"} -Y "$d" -w "$d" \
        -P "$d/kamailio.pid" -A "CHILDREN=$CHILDREN" -A "WSSPORT=$WSS_PORT" -A "SIPPORT=$SIP_PORT" \
        -A "KEEPALIVE=$KEEPALIVE" -A "MAXCONN=$((N + 1000))" -A "CTLSOCK=\"unix:$d/ctl\""
    SWRAP=$WRAP; SPID=$CHILD
    for _ in $(seq 50); do sleep 0.2; answers_options && break; done
    answers_options || { cat "$RUN/server.log"; die "kamailio does not answer OPTIONS"; }
    sleep 1
    PIDS=$(descendants "$SPID" | sort -un | tr '\n' ' ')
    echo "# kamailio pid $SPID, processes: $(echo $PIDS | wc -w)"
}

start_sipwarden() {
    local t0 t1
    if [ ! -d "$RUN/data.pristine" ]; then
        mkdir -p "$RUN/data.pristine"
        python3 -c 'import sys
n = int(sys.argv[1])
sys.stdout.write("".join("u%06d@example.test pw-u%06d\n" % (i, i) for i in range(n)))' "$N" > "$RUN/users.txt"
        t0=$(date +%s.%N)
        "$SIPWARDEN" user import "$RUN/users.txt" --data-dir "$RUN/data.pristine" --domain example.test >/dev/null \
            || die "sipwarden user import failed"
        t1=$(date +%s.%N)
        echo "# sipwarden user import: $N users in $(python3 -c "print('%.1f' % ($t1 - $t0))") s (one command, bulk)"
    fi
    rm -rf "$RUN/data"; cp -a "$RUN/data.pristine" "$RUN/data"
    cat > "$RUN/sipwarden.toml" <<CFG
data_dir = "$RUN/data"
workers = $WORKERS
listen = ["udp:$IP:$SIP_PORT", "wss:$IP:$WSS_PORT"]
[[domain]]
name = "example.test"
[log]
level = "warn"
[auth]
algorithms = ["MD5"]   # as Kamailio's cfg
[transport]
max_connections_per_address = 1000000
[tls]
certificate = "$CERT"
private_key = "$KEYFILE"
CFG
    spawn "$BOUND" "$RUN/server.log" "$SIPWARDEN" serve --config "$RUN/sipwarden.toml"
    SWRAP=$WRAP; SPID=$CHILD
    for _ in $(seq 50); do sleep 0.2; answers_options && break; done
    answers_options || { cat "$RUN/server.log"; die "sipwarden does not answer OPTIONS"; }
    PIDS=$SPID
}

stop_server() {
    local s=$1
    cp "$RUN/server.log" "$LOGS/$s.server.log" 2>/dev/null
    stop_pids $SWRAP $SPID $(descendants "$SPID" 2>/dev/null)
    SPID=""; SWRAP=""; PIDS=""
    sleep 2
}

run_server() {
    local s=$1 k0 k1 t0 t1 rc m_closed
    "start_$s"
    local alive_ok=1
    k0=$(ticks $PIDS); t0=$(date +%s.%N)
    local half=$((N / 2)); [ "$half" -ge 1 ] || half=1
    local wpids; wpids=$(echo $PIDS | tr ' ' ',')
    ( timeout -k 5 $((BOUND - 60)) "$LOAD_BIN" hold --transport wss --server "$IP:$WSS_PORT" \
        --users "0-$((N - 1))" --user-prefix u --user-width 6 --calls "$N" --rate "$RATE" \
        --max-outstanding "$INFLIGHT" --hold "$HOLD" --expires "$EXPIRES" --refresh-at "$REFRESH_AT" \
        --local-ips "127.0.0.2-$LAST_SRC" --ws-origin "https://example.test" --milestones "$half" \
        --settle "$SETTLE" --watch-pids "$wpids" --algorithm MD5 --tls-ca "$CA" --tls-server-name example.test \
        --progress 30 --label "$s" > "$RUN/client.json" 2> "$RUN/client.err" ) &
    local c=$!
    OWNED="$OWNED $c"
    wait "$c"; rc=$?
    forget "$c"
    t1=$(date +%s.%N); k1=$(ticks $PIDS)
    sleep 3
    m_closed=$(memory_kib $PIDS)
    for p in $PIDS; do kill -0 "$p" 2>/dev/null || alive_ok=0; done
    cp "$RUN/client.err" "$LOGS/$s.client.err"; cp "$RUN/client.json" "$LOGS/$s.client.json"
    grep -E '^hold: sample' "$RUN/client.err" | sed "s/^/## $s /"
    grep -qE '^\{' "$RUN/client.json" || { echo "## $s: the client gave no result (exit $rc):"; tail -5 "$RUN/client.err" | sed 's/^/##   /'; }
    [ "$alive_ok" = 1 ] || echo "## $s: A SERVER PROCESS DIED during the run (log: $LOGS/$s.server.log)"
    # What the server logged (sipwarden at warn level; Kamailio at debug=0): the most frequent lines.
    echo "## $s server log: $(wc -l < "$RUN/server.log") lines; most frequent (times and numbers masked):"
    sed -E 's/[0-9]+/N/g' "$RUN/server.log" | sort | uniq -c | sort -rn | head -5 | sed 's/^/##   /'
    python3 - "$RUN/client.json" "$s" "$((k1 - k0))" "$CLK_TCK" "$t0" "$t1" "$m_closed" "$alive_ok" "$rc" >> "$RUN/results.jsonl" <<'PY'
import json, sys
path, server, kt, tck, t0, t1, closed, alive, rc = sys.argv[1:]
lines = [json.loads(l) for l in open(path) if l.startswith("{")]
j = lines[-1] if lines else {"error": "no result from the client (exit %s)" % rc, "verdict": "FAIL"}
j["server_name"] = server
j["server_cpu_s"] = int(kt) / int(tck)
j["wall_s"] = float(t1) - float(t0)
r, p = closed.split()
j["closed_rss_kib"], j["closed_pss_kib"] = int(r), int(p)
j["server_alive"] = alive == "1"
print(json.dumps(j))
PY
    stop_server "$s"
}

# ---------------------------------------------------------------- main
make_pki
: > "$RUN/results.jsonl"
echo "# date $(date -u +%FT%TZ)  host $(uname -srm)  nproc $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# memory: $(free -g | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')   RLIMIT_NOFILE $NOFILE"
case " $SERVERS " in *" sipwarden "*)
    echo "# sipwarden $("$SIPWARDEN" version 2>/dev/null | awk '{print $2}') ($SIPWARDEN, built $(date -u -r "$SIPWARDEN" +%FT%TZ); repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)) workers=$WORKERS" ;; esac
case " $SERVERS " in *" kamailio "*)
    echo "# $(kamailio -v | head -1 | sed 's/^version: //') children=$CHILDREN tcp_children=$CHILDREN shm ${SHM_MB} MiB pkg ${PKG_MB} MiB websocket keepalive_timeout ${KEEPALIVE}s" ;; esac
echo "# $(openssl version); server key $KEY; load client $LOAD_BIN (one thread, WSS, TLS 1.2, certificate verified)"
echo "# N=$N RATE=$RATE/s INFLIGHT=$INFLIGHT HOLD=${HOLD}s EXPIRES=${EXPIRES}s REFRESH_AT=$REFRESH_AT SOURCES=$SOURCES (127.0.0.2-$LAST_SRC); logs in $LOGS"
for s in $SERVERS; do
    case $s in kamailio|sipwarden) ;; *) die "unknown server $s" ;; esac
    run_server "$s"
done
echo "# end $(date -u +%FT%TZ)  load $(cut -d' ' -f1-3 /proc/loadavg)"
cp "$RUN/results.jsonl" "$LOGS/results.jsonl"

echo
python3 - "$RUN/results.jsonl" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rs:
    sys.exit(0)
def sample(r, label):
    for s in r.get("samples", []):
        if s["label"] == label or (label == "half" and s["label"].startswith("milestone")):
            return s
    return None
def per(r, key):
    a, b = sample(r, "0"), sample(r, "ramp end")
    if not a or not b or not b["open"]:
        return "-"
    return "%.0f" % (1024.0 * (b[key] - a[key]) / b["open"])
def slope(r, key):
    a, b = sample(r, "half"), sample(r, "ramp end")
    if not a or not b or b["open"] == a["open"]:
        return "-"
    return "%.0f" % (1024.0 * (b[key] - a[key]) / (b["open"] - a["open"]))
def mib(r, label, key):
    s = sample(r, label)
    return "%.1f" % (s[key] / 1024.0) if s else "-"
rows = [
    ("clients", lambda r: r.get("clients", "-")),
    ("connected", lambda r: r.get("connected", "-")),
    ("registered", lambda r: r.get("registered", "-")),
    ("connect / register failures", lambda r: "%s / %s" % (r.get("connect_failed", "-"), r.get("register_failed", "-"))),
    ("refreshes passed / failed", lambda r: "%s / %s" % (r.get("refresh_ok", "-"), r.get("refresh_failed", "-"))),
    ("connections dropped by the server", lambda r: r.get("drops", "-")),
    ("ramp (s, without sampling pauses)", lambda r: r.get("ramp_s", "-")),
    ("set-up p50 / p99 (ms: TCP+TLS+upgrade)", lambda r: "%s / %s" % (r.get("setup_p50_ms"), r.get("setup_p99_ms"))),
    ("REGISTER p50 / p99 (ms, 401 included)", lambda r: "%s / %s" % (r.get("register_p50_ms"), r.get("register_p99_ms"))),
    ("refresh p50 / p99 (ms)", lambda r: "%s / %s" % (r.get("refresh_p50_ms"), r.get("refresh_p99_ms"))),
    ("WebSocket pings answered", lambda r: r.get("ws_pings_answered", "-")),
    ("server RSS MiB at 0 / N/2 / N / hold end", lambda r: " / ".join(mib(r, l, "rss_kib") for l in ("0", "half", "ramp end", "hold end"))),
    ("server PSS MiB at 0 / N/2 / N / hold end", lambda r: " / ".join(mib(r, l, "pss_kib") for l in ("0", "half", "ramp end", "hold end"))),
    ("server VmHWM MiB at hold end", lambda r: mib(r, "hold end", "hwm_kib")),
    ("server RSS / PSS MiB after the clients closed", lambda r: "%.1f / %.1f" % (r["closed_rss_kib"] / 1024.0, r["closed_pss_kib"] / 1024.0)),
    ("RSS per connection (B, N vs 0)", lambda r: per(r, "rss_kib")),
    ("PSS per connection (B, N vs 0)", lambda r: per(r, "pss_kib")),
    ("PSS per connection (B, N vs N/2)", lambda r: slope(r, "pss_kib")),
    ("server CPU s over the run", lambda r: "%.1f" % r["server_cpu_s"]),
    ("client RSS per connection (B)", lambda r: per(r, "client_rss_kib")),
    ("verdict", lambda r: r.get("verdict", "FAIL") + ("" if r.get("server_alive", True) else " (server died)")),
]
names = [r["server_name"] for r in rs]
w = max(len(n) for n, _ in rows)
print("%-*s | %s" % (w, "", " | ".join("%-24s" % n for n in names)))
for name, f in rows:
    vals = []
    for r in rs:
        try:
            vals.append("%-24s" % f(r))
        except (KeyError, TypeError, ZeroDivisionError):
            vals.append("%-24s" % "-")
    print("%-*s | %s" % (w, name, " | ".join(vals)))
for r in rs:
    if r.get("failures") or r.get("drop_reasons") or r.get("error"):
        print("## %s: failures %s; drops %s%s" % (r["server_name"], json.dumps(r.get("failures", {})),
              json.dumps(r.get("drop_reasons", {})), ("; " + r["error"]) if r.get("error") else ""))
PY

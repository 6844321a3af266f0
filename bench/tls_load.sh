#!/usr/bin/env bash
# SIP over TLS under load (issue 5): sipwarden against Kamailio 5.6.3 (../shared/bench/kamailio/
# with its tls.cfg) in the same run, both driven by the project's own load client
# (bench/loadclient: sipwarden-load; Debian's SIPp has no TLS). Everything on 127.0.0.1.
#
# Per server, each phase on a freshly started server (users 1000..10999, password pw-N, realm
# example.test, MD5 digest as Kamailio's cfg):
#   1. handshakes: REGISTER -> 401 -> REGISTER -> 200 with a new TLS connection (a full handshake,
#      no session resumption) per call: the highest passing rate (search), then a fixed rate HS_RATE
#      for the server CPU per call;
#   2. REGISTER over one persistent TLS connection: fixed rates, then (SEARCH=1) the highest rate;
#   3. MESSAGE and INVITE calls over one persistent TLS connection, through the server's proxy to
#      the client's uas (registered over TLS on port 5081 first): fixed rates, then the highest;
#   4. memory per idle TLS connection: IDLE_CONNS connections, each registered once (REGISTER with
#      credentials; then again with one OPTIONS each) then idle; the server's memory (PSS summed over its processes, from
#      /proc/PID/smaps_rollup; RSS too) before and while they are held, divided by the connections.
# Then (CROSSCHECK=1) the load client against SIPp on UDP and TCP: the same REGISTER scenario at the
# same fixed rate against sipwarden; achieved rates and server CPU per call must agree.
#
# Server CPU = utime+stime of every server process and thread (/proc/PID/stat) over the run,
# divided by the successful calls. PASS = < 0.1% of the calls not successful and achieved >= 95%
# of the offered rate. Response time = first request sent (connection per call: the connection
# opened) .. the final 2xx of the authenticated request (INVITE: the 200, before ACK and BYE).
#
# Usage: bench/tls_load.sh                   (after `make build` and building sipwarden-load)
#   SIPWARDEN_BIN=build/h-bench/server/sipwarden LOAD_BIN=build/h-bench/sipwarden-load bench/tls_load.sh
#   QUICK=1 bench/tls_load.sh                (a smoke run: small rates, 3 s runs, 1000 idle connections)
# Knobs (environment):
#   SIPWARDEN_BIN [build/release/sipwarden]   LOAD_BIN [sipwarden-load beside SIPWARDEN_BIN, else
#                 build/h-bench/sipwarden-load]   SERVERS ["sipwarden kamailio"]
#   WORKERS [2] sipwarden workers   CHILDREN [2] Kamailio children and tcp_children
#   KAM_MEM [""] Kamailio's memory manager: "" keeps its default (q_malloc, which Debian's
#     build compiles with DBG_SR_MEMORY: about half of its CPU per REGISTER here); "tlsf" or "fm": -x
#   KEY [rsa2048] server key type: rsa2048 (as the Kamailio harness) or p256
#   TLS_VERSION [1.2] the client's TLS version (1.2 as the harness's SIPp runs, 1.3, any)
#   DURATION [8] seconds per fixed-rate run   SEARCH_DURATION [6] seconds per search step
#   HS_SEARCH ["300,6000"] handshake search start,max   HS_RATE [300] fixed handshake rate
#   RATES_REGISTER ["5000"] RATES_MESSAGE ["2000"] RATES_INVITE ["1000"] fixed offered rates, the
#                 same for both servers
#   SEARCH [1] then search the highest persistent rates from SEARCH_REGISTER ["4000,60000"]
#                 SEARCH_MESSAGE ["2000,30000"] SEARCH_INVITE ["1000,20000"] (start,max; x1.5, then
#                 3 bisections)
#   PHASES ["handshake register calls idle"] (empty: none)   CROSSCHECK [1]   CROSS_RATE [3000]
#   IDLE_CONNS [10000] IDLE_RATE [400] connections opened per second, at most IDLE_INFLIGHT [50]
#                 handshakes in progress at once (so that the transient memory of many concurrent
#                 handshakes is not counted as memory of idle connections)   IDLE_HOLD [10] seconds held
#   IDLE_REQUESTS ["register options"] the one request each idle connection sends: REGISTER with
#                 credentials (a registered phone: the server also holds its binding) or OPTIONS
#   LOGS [/tmp/tls_load-<time>] kept logs and JSON lines
# Output: one line per run; then tables side by side with the sipwarden/Kamailio ratios.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEER=${PEER:-$ROOT/../shared/bench/kamailio}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    : "${DURATION:=3}" "${SEARCH_DURATION:=3}" "${HS_SEARCH:=100,400}" "${HS_RATE:=100}" "${RATES_REGISTER:=500}"
    : "${RATES_MESSAGE:=300}" "${RATES_INVITE:=200}" "${SEARCH:=0}" "${IDLE_CONNS:=1000}" "${IDLE_HOLD:=5}"
    : "${CROSS_RATE:=500}" "${USERS:=2000}"
fi
SERVERS=${SERVERS:-"sipwarden kamailio"}
WORKERS=${WORKERS:-2}
CHILDREN=${CHILDREN:-2}
KEY=${KEY:-rsa2048}
TLS_VERSION=${TLS_VERSION:-1.2}
DURATION=${DURATION:-8}
SEARCH_DURATION=${SEARCH_DURATION:-6}
HS_SEARCH=${HS_SEARCH:-"300,6000"}
HS_RATE=${HS_RATE:-300}
RATES_REGISTER=${RATES_REGISTER:-"5000"}
RATES_MESSAGE=${RATES_MESSAGE:-"2000"}
RATES_INVITE=${RATES_INVITE:-"1000"}
SEARCH=${SEARCH:-1}
SEARCH_REGISTER=${SEARCH_REGISTER:-"4000,60000"}
SEARCH_MESSAGE=${SEARCH_MESSAGE:-"2000,30000"}
SEARCH_INVITE=${SEARCH_INVITE:-"1000,20000"}
PHASES=${PHASES-"handshake register calls idle"}
CROSSCHECK=${CROSSCHECK:-1}
CROSS_RATE=${CROSS_RATE:-3000}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_RATE=${IDLE_RATE:-400}
IDLE_HOLD=${IDLE_HOLD:-10}
IDLE_INFLIGHT=${IDLE_INFLIGHT:-50}
IDLE_REQUESTS=${IDLE_REQUESTS:-"register options"}
USERS=${USERS:-10000}   # users 1000 .. 1000+USERS-1
SIPWARDEN=${SIPWARDEN_BIN:-${SIPWARDEN:-$ROOT/build/release/sipwarden}}
if [ -z "${LOAD_BIN:-}" ]; then
    LOAD_BIN=$(dirname "$SIPWARDEN")/sipwarden-load
    [ -x "$LOAD_BIN" ] || LOAD_BIN=$ROOT/build/h-bench/sipwarden-load
fi
LOGS=${LOGS:-/tmp/tls_load-$(date +%Y%m%d-%H%M%S)}
CLK_TCK=$(getconf CLK_TCK)
IP=127.0.0.1
UAS_PORT=5081
LAST_USER=$((1000 + USERS - 1))

die() { echo "ERROR: $*" >&2; exit 1; }
for b in kamailio sipp sipsak python3 openssl timeout ss; do command -v "$b" >/dev/null || die "missing $b (bash scripts/setup.sh)"; done
[ -x "$LOAD_BIN" ] || die "no load client at $LOAD_BIN (build the sipwarden-load target, or set LOAD_BIN)"
case " $SERVERS " in *" sipwarden "*)
    [ -x "$SIPWARDEN" ] || die "no $SIPWARDEN: run make build, or set SIPWARDEN_BIN" ;; esac
case " $SERVERS " in *" kamailio "*)
    [ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] || ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 ||
        die "Kamailio's TLS module is missing (apt-get install kamailio-tls-modules)" ;; esac
[ -f "$PEER/kamailio.cfg" ] || die "peer harness not found at $PEER"
for p in 5060 5061 5070 $UAS_PORT; do
    [ -z "$(ss -Hlntu "sport = :$p" 2>/dev/null)" ] || die "port $p is in use on this machine"
done

# 10,000 idle connections: one descriptor each in the client and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge $((IDLE_CONNS + 1000)) ] || die "ulimit -n $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS"

mkdir -p "$LOGS" || die "cannot create $LOGS"
RUN=$(mktemp -d /tmp/sipwarden-tls-bench.XXXXXX)

# Every process this script starts runs under `timeout` and is recorded here by id; nothing is
# killed by name.
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
    for _ in $(seq 30); do
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
    for _ in $(seq 100); do
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
memory_kib() {  # "PSS RSS" in KiB, summed over the given processes
    local p pss=0 rss=0 v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null); pss=$((pss + ${v:-0}))
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null); rss=$((rss + ${v:-0}))
    done
    echo "$pss $rss"
}

# ---------------------------------------------------------------- certificates (openssl CLI)
# A root CA and a server certificate for example.test / localhost / 127.0.0.1, used by both
# servers and by the client's uas; the client verifies the chain and the name.
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
    printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:example.test,DNS:localhost,IP:127.0.0.1\n" > "$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/root.crt" -CAkey "$d/root.key" -CAcreateserial -days 365 \
        -extfile "$d/ext" -out "$d/chain.pem" 2>/dev/null || die "openssl (sign) failed"
    chmod 600 "$d/key.pem"
    CA=$d/root.crt; CERT=$d/chain.pem; KEYFILE=$d/key.pem
}

# ---------------------------------------------------------------- servers
SPID=""; SWRAP=""; PIDS=""
answers_options() { sipsak -s "sip:$IP:5060" >/dev/null 2>&1; }

start_sipwarden() {
    if [ ! -d "$RUN/data.pristine" ]; then
        mkdir -p "$RUN/data.pristine"
        for ((u = 1000; u <= LAST_USER; u++)); do echo "$u@example.test pw-$u"; done > "$RUN/users.txt"
        "$SIPWARDEN" user import "$RUN/users.txt" --data-dir "$RUN/data.pristine" --domain example.test >/dev/null \
            || die "sipwarden user import failed"
    fi
    rm -rf "$RUN/data"; cp -a "$RUN/data.pristine" "$RUN/data"
    cat > "$RUN/sipwarden.toml" <<CFG
data_dir = "$RUN/data"
workers = $WORKERS
listen = ["udp:$IP:5060", "tcp:$IP:5060", "tls:$IP:5061"]
[[domain]]
name = "example.test"
[log]
level = "warn"
[auth]
algorithms = ["MD5"]   # as Kamailio's cfg (and SIPp in the cross-check)
[transport]
max_connections_per_address = 100000   # every connection comes from 127.0.0.1
[tls]
certificate = "$CERT"
private_key = "$KEYFILE"
ca_file = "$CA"
CFG
    spawn 7200 "$RUN/server.log" "$SIPWARDEN" serve --config "$RUN/sipwarden.toml"
    SWRAP=$WRAP; SPID=$CHILD
    for _ in $(seq 50); do sleep 0.2; answers_options && break; done
    answers_options || { cat "$RUN/server.log"; die "sipwarden does not answer OPTIONS"; }
    PIDS=$SPID
}

start_kamailio() {
    mkdir -p "$RUN/kam"
    if [ ! -d "$RUN/peer" ]; then
        # A private copy of the harness: our certificate (tls.cfg names anchor-*.pem) and room for
        # the idle connections (the harness allows 8192).
        cp -r "$PEER" "$RUN/peer"; chmod -R u+w "$RUN/peer"
        cp "$CERT" "$RUN/peer/anchor-cert.pem"; cp "$KEYFILE" "$RUN/peer/anchor-key.pem"
        local maxc=$((IDLE_CONNS + 2000)); [ $maxc -lt 8192 ] && maxc=8192
        sed -i -E "s/^tcp_max_connections=.*/tcp_max_connections=$maxc/; s/^tls_max_connections=.*/tls_max_connections=$maxc/" \
            "$RUN/peer/kamailio.cfg"
    fi
    spawn 7200 "$RUN/server.log" kamailio -f "$RUN/peer/kamailio.cfg" -DD -E -m 4096 -M 32 ${KAM_MEM:+-x "$KAM_MEM"} -Y "$RUN/kam" \
        -w "$RUN/kam" -P "$RUN/kam/kamailio.pid" -A "CHILDREN=$CHILDREN" -A "CTLSOCK=\"unix:$RUN/kam/ctl\""
    SWRAP=$WRAP; SPID=$CHILD
    for _ in $(seq 50); do sleep 0.2; answers_options && break; done
    answers_options || { tail -20 "$RUN/server.log"; die "kamailio does not answer OPTIONS"; }
    PIDS="$SPID $(cat /proc/"$SPID"/task/*/children 2>/dev/null)"
    OWNED="$OWNED $PIDS"
}

server_alive() { [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; }
DIED=0
# After a run: a server that died is reported (its log kept) and the rest of the phase skipped.
check_alive() {  # $1 = server, $2 = run
    server_alive && return 0
    DIED=1
    echo "## $1 DIED during $2 (log: $LOGS/$1_${SERVER_PHASE}_died.server.log)"
    tail -c 1000000 "$RUN/server.log" > "$LOGS/$1_${SERVER_PHASE}_died.server.log"
    printf "died\t%s\t%s\n" "$1" "$2" >> "$RUN/results.tsv"
    return 1
}

# start_server NAME PHASE: a fresh server; prints its idle CPU
start_server() {
    "start_$1"
    SERVER_PHASE=$2
    DIED=0
    sleep 1
    local i0 i1; i0=$(ticks $PIDS); sleep 3; i1=$(ticks $PIDS)
    echo "## $1 ($2): started, $(echo $PIDS | wc -w) process(es), idle CPU $(awk -v d=$((i1 - i0)) -v h="$CLK_TCK" 'BEGIN{printf "%.1f", 100 * d / h / 3}')% of one core"
}

stop_server() {
    stop_pids $SWRAP $PIDS
    # keep the end of the log and a count of its distinct warnings/errors
    local log="$LOGS/$1_$SERVER_PHASE.server.log"
    tail -c 1000000 "$RUN/server.log" > "$log"
    local n; n=$(grep -c -aiE 'warn|error|crit' "$RUN/server.log" 2>/dev/null)
    if [ "${n:-0}" -gt 0 ]; then
        echo "##   $1 log: $n warning/error lines; most frequent (numbers masked):"
        grep -aiE 'warn|error|crit' "$RUN/server.log" | sed -E 's/^[^]]*\] *//; s/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -5 | sed 's/^/##     /'
    fi
    sleep 1
}

# ---------------------------------------------------------------- the load client
client_args() {  # common arguments for TLS runs
    echo --transport tls --server "$IP:5061" --users "1000-$LAST_USER" --tls-ca "$CA" --tls-version "$TLS_VERSION"
}

# load SERVER TAG ARGS...: one client process; server CPU measured around it; JSON lines kept
load() {
    local server=$1 tag=$2; shift 2
    local k0 k1 u0 u1 t0 t1 rc
    rm -f "$RUN/$tag".*
    k0=$(ticks $PIDS); u0=$(ticks ${UPID:-}); t0=$(date +%s.%N)
    ( TIMEFORMAT='%3U %3S'
      { time timeout -k 5 3600 "$LOAD_BIN" "$@" --quiet --label "$server $tag" > "$RUN/$tag.json" 2> "$RUN/$tag.err"; } \
          2> "$RUN/$tag.time" ) &
    local c=$!
    OWNED="$OWNED $c"
    wait "$c"; rc=$?
    forget "$c"
    t1=$(date +%s.%N); k1=$(ticks $PIDS); u1=$(ticks ${UPID:-})
    cat "$RUN/$tag.json" >> "$LOGS/runs.jsonl"
    [ -s "$RUN/$tag.err" ] && cp "$RUN/$tag.err" "$LOGS/$server.$tag.err"
    check_alive "$server" "$tag"
    python3 - "$RUN/$tag.json" "$RUN/$tag.time" "$server" "$tag" "$((k1 - k0))" "$((u1 - u0))" "$CLK_TCK" "$t0" "$t1" \
        "$RUN/results.tsv" <<'PY'
import json, sys
path, timef, server, tag, kt, ut, tck, t0, t1, results = sys.argv[1:]
kt, ut, tck = int(kt), int(ut), int(tck)
wall = float(t1) - float(t0)
lines = [json.loads(l) for l in open(path) if l.startswith("{")]
try:
    u, s = (float(x) for x in open(timef).read().split()[-2:])
except (OSError, ValueError):
    u = s = 0.0
cpu = kt / tck
if not lines:
    print("%-9s %-22s no result (see the client's log)" % (server, tag)); sys.exit(1)
runs = [l for l in lines if "calls" in l]
last = lines[-1]
if last.get("search_result"):
    for r in runs:
        print("%-9s %-22s %7.0f %8.0f %7.2f%% %8s %7.1f %7.1f %s   (search step)" % (
            server, tag, r["offered"], r["achieved"], r["failed_pct"], "-", r["p50_ms"], r["p99_ms"], r["verdict"]))
        top = sorted(r["failures"].items(), key=lambda kv: -kv[1])[:2]
        if top: print("##   failures: " + "; ".join("%d x %s" % (n, k) for k, n in top))
    print("## %s %s: highest passing rate %s/s (first failing: %s)%s" % (server, tag, last["best"], last["first_failing"] or "none",
          "; THE SERVER WENT AWAY during the search (connections refused): the rate that failed first may be the crash's" if last.get("server_gone") else ""))
    with open(results, "a") as f:
        f.write("\t".join(map(str, ("best", server, tag, last["best"], last["first_failing"]))) + "\n")
    sys.exit(0)
r = runs[-1]
us = 1e6 * cpu / r["succeeded"] if r["succeeded"] else float("nan")
print("%-9s %-22s %7.0f %8.0f %7.2f%% %8.1f %7.1f %7.1f %s  srv %5.1f%% client %5.1f%% uas %5.1f%%" % (
    server, tag, r["offered"], r["achieved"], r["failed_pct"], us, r["p50_ms"], r["p99_ms"], r["verdict"],
    100 * cpu / wall, 100 * (u + s) / wall, 100 * ut / tck / wall))
top = sorted(r["failures"].items(), key=lambda kv: -kv[1])[:3]
if top: print("##   failures: " + "; ".join("%d x %s" % (n, k) for k, n in top))
if r.get("setup_p50_ms") is not None:
    print("##   connection set-up (TCP + TLS handshake) p50 %.1f ms, p99 %.1f ms" % (r["setup_p50_ms"], r["setup_p99_ms"]))
with open(results, "a") as f:
    f.write("\t".join(map(str, ("run", server, tag, r["offered"], r["achieved"], r["failed_pct"], "%.1f" % us,
                                r["p50_ms"], r["p99_ms"], r["verdict"], "%.1f" % (100 * cpu / wall)))) + "\n")
PY
    return $rc
}

UPID=""; UWRAP=""
start_uas() {  # registers every user over TLS with Contact sip:N@127.0.0.1:5081;transport=tls
    rm -f "$RUN/uas.ready"
    spawn 7200 "$RUN/uas.log" "$LOAD_BIN" uas $(client_args) --local-port "$UAS_PORT" --tls-cert "$CERT" \
        --tls-key "$KEYFILE" --register-rate 2000 --ready-file "$RUN/uas.ready" --hold 3000 --label "uas"
    UWRAP=$WRAP; UPID=$CHILD
    for _ in $(seq 300); do [ -f "$RUN/uas.ready" ] && break; kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
    [ -f "$RUN/uas.ready" ] || { cat "$RUN/uas.log"; die "the uas did not register its users"; }
}
stop_uas() {
    stop_pids $UWRAP $UPID
    cp "$RUN/uas.log" "$LOGS/$1.uas.log"
    grep '"mode":"uas","transport"' "$RUN/uas.log" | tail -1 | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l)
    print("##   uas: requests %s, responses sent %d, connections accepted %d, lost %d, invalid %d" % (
        json.dumps(j["requests"], sort_keys=True), j["responses_sent"], j["connections_accepted"], j["connections_lost"], j["invalid"]))'
    UPID=""; UWRAP=""
}

# ---------------------------------------------------------------- phases
phase_handshake() {
    local s=$1
    start_server "$s" handshake
    load "$s" hs_search register $(client_args) --connection-per-call --search "$HS_SEARCH" --duration "$SEARCH_DURATION"
    if [ "$DIED" = 1 ]; then stop_server "$s"; start_server "$s" handshake2; fi
    sleep 3
    load "$s" "hs_fixed_$HS_RATE" register $(client_args) --connection-per-call --rate "$HS_RATE" --duration "$DURATION"
    stop_server "$s"
}

phase_register() {
    local s=$1 r
    start_server "$s" register
    for r in $RATES_REGISTER; do load "$s" "register_$r" register $(client_args) --rate "$r" --duration "$DURATION"; sleep 2; done
    [ "$SEARCH" = 1 ] && [ "$DIED" = 0 ] && load "$s" register_search register $(client_args) --search "$SEARCH_REGISTER" --duration "$SEARCH_DURATION"
    stop_server "$s"
}

phase_calls() {
    local s=$1 r m
    start_server "$s" calls
    start_uas
    echo "## $s: $USERS callees registered over TLS by the uas (Contact 127.0.0.1:$UAS_PORT;transport=tls)"
    for m in message invite; do
        local rates; [ $m = message ] && rates=$RATES_MESSAGE || rates=$RATES_INVITE
        for r in $rates; do [ "$DIED" = 0 ] && load "$s" "${m}_$r" "$m" $(client_args) --rate "$r" --duration "$DURATION"; sleep 2; done
        if [ "$SEARCH" = 1 ] && [ "$DIED" = 0 ]; then
            local range; [ $m = message ] && range=$SEARCH_MESSAGE || range=$SEARCH_INVITE
            load "$s" "${m}_search" "$m" $(client_args) --search "$range" --duration "$SEARCH_DURATION"
        fi
    done
    stop_uas "$s"
    stop_server "$s"
}

phase_idle() {
    local s=$1 attempt req
    for req in $IDLE_REQUESTS; do
        for attempt in 1 2; do
            start_server "$s" "idle_$req"
            idle_once "$s" "$req" && { stop_server "$s"; break; }
            stop_server "$s"
            [ "$DIED" = 1 ] || break
            [ $attempt = 1 ] && echo "## $s died while holding the idle connections: once more with a fresh server"
        done
    done
}

idle_once() {
    local s=$1 req=$2 m0 m1 m2 rc
    m0=$(memory_kib $PIDS)
    rm -f "$RUN/idle.ready"
    ( timeout -k 5 $((IDLE_CONNS / IDLE_RATE + IDLE_HOLD + 180)) "$LOAD_BIN" idle $(client_args) --rate "$IDLE_RATE" \
        --calls "$IDLE_CONNS" --hold "$IDLE_HOLD" --ready-file "$RUN/idle.ready" --call-timeout 30 --idle-request "$req" \
        --max-outstanding "$IDLE_INFLIGHT" --quiet --label "$s idle $req" > "$RUN/idle.json" 2> "$RUN/idle.err" ) &
    local c=$!
    OWNED="$OWNED $c"
    for _ in $(seq $((10 * (IDLE_CONNS / IDLE_RATE + 120)))); do [ -f "$RUN/idle.ready" ] && break; kill -0 $c 2>/dev/null || break; sleep 0.1; done
    sleep 3   # the last REGISTERs answered, buffers released
    m1=$(memory_kib $PIDS)
    local estab; estab=$(ss -Htn state established "( sport = :5061 )" 2>/dev/null | wc -l)
    wait "$c"; rc=$?
    forget "$c"
    sleep 2
    m2=$(memory_kib $PIDS)   # after the client closed them: what the server gives back
    cat "$RUN/idle.json" >> "$LOGS/runs.jsonl"
    [ -s "$RUN/idle.err" ] && cp "$RUN/idle.err" "$LOGS/$s.idle_$req.err"
    check_alive "$s" "idle_$req" || return 1
    python3 - "$RUN/idle.json" "$s" "$m0" "$m1" "$m2" "$estab" "$RUN/results.tsv" "$req" <<'PY'
import json, sys
path, server, m0, m1, m2, estab, results, req = sys.argv[1:]
p0, r0 = map(int, m0.split()); p1, r1 = map(int, m1.split()); p2, r2 = map(int, m2.split())
lines = [json.loads(l) for l in open(path) if l.startswith("{")]
if not lines:
    print("%-9s idle: no result" % server); sys.exit(1)
j = lines[-1]
n = j["succeeded"]
per_pss = 1024.0 * (p1 - p0) / n if n else float("nan")
per_rss = 1024.0 * (r1 - r0) / n if n else float("nan")
print("%-9s idle (%s): %d of %d TLS connections opened, one request each (%d established at the server's port while held); "
      "server PSS %.1f -> %.1f MiB (%.1f after they closed), RSS %.1f -> %.1f MiB: %.0f B (PSS) / %.0f B (RSS) per "
      "connection; lost during the %s s hold: %d; connection set-up p50 %s ms p99 %s ms" % (
          server, req, n, j["calls"], int(estab), p0 / 1024, p1 / 1024, p2 / 1024, r0 / 1024, r1 / 1024, per_pss, per_rss,
          j.get("hold_s"), j.get("lost_during_hold", -1), j.get("setup_p50_ms"), j.get("setup_p99_ms")))
top = sorted(j["failures"].items(), key=lambda kv: -kv[1])[:3]
if top: print("##   failures: " + "; ".join("%d x %s" % (c, k) for k, c in top))
if j.get("hold_losses"): print("##   closed during the hold: %s" % j["hold_losses"])
with open(results, "a") as f:
    f.write("\t".join(map(str, ("idle", server + " " + req, n, j["calls"], "%.0f" % per_pss, "%.0f" % per_rss, j.get("lost_during_hold", -1),
                                "%.1f" % (p1 / 1024), "%.1f" % (r1 / 1024), "%.1f" % (p0 / 1024), "%.1f" % (p2 / 1024)))) + "\n")
PY
}

# SIPp against the load client: REGISTER at the same fixed rate against sipwarden, UDP and TCP.
phase_crosscheck() {
    start_server sipwarden crosscheck
    { echo SEQUENTIAL; for ((u = 1000; u <= LAST_USER; u++)); do echo "$u;$u"; done; } > "$RUN/users.csv"
    # Every user bound once first, so that both clients' runs refresh existing bindings.
    load sipwarden cross_warmup register --transport udp --users "1000-$LAST_USER" --rate 2000 --calls "$USERS" >/dev/null
    local t fam calls=$((CROSS_RATE * DURATION))
    for t in u1 t1; do
        case $t in u1) fam=udp ;; t1) fam=tcp ;; esac
        sleep 2
        local k0 k1 t0 t1 lp=(); [ $fam = udp ] && lp=(-p 5070)
        rm -f "$RUN/sipp.csv"
        k0=$(ticks $PIDS); t0=$(date +%s.%N)
        ( cd "$RUN" && TIMEFORMAT='%3U %3S'
          { time timeout -k 5 $((DURATION + 60)) sipp "$IP:5060" -sf "$PEER/register_auth.xml" -inf "$RUN/users.csv" \
              -key contact_hostport "$IP:5080" -key contact_transport "$fam" -i "$IP" "${lp[@]}" -t "$t" \
              -r "$CROSS_RATE" -m "$calls" -buff_size 4194304 -max_socket 1000 -nostdin -timeout "$((DURATION + 40))s" \
              -recv_timeout 10000 -trace_stat -stf "$RUN/sipp.csv" -fd 1 >/dev/null 2>"$RUN/sipp.stderr" </dev/null; } \
              2> "$RUN/sipp.time" ) &
        local c=$!; OWNED="$OWNED $c"; wait $c; forget $c
        t1=$(date +%s.%N); k1=$(ticks $PIDS)
        python3 - "$RUN/sipp.csv" "$RUN/sipp.time" "$fam" "$CROSS_RATE" "$calls" "$((k1 - k0))" "$CLK_TCK" "$t0" "$t1" "$RUN/results.tsv" <<'PY'
import csv, sys
path, timef, fam, rate, calls, kt, tck, t0, t1, results = sys.argv[1:]
rate, calls, kt, tck = int(rate), int(calls), int(kt), int(tck)
wall = float(t1) - float(t0)
rows = list(csv.reader(open(path), delimiter=";"))
col = {n: i for i, n in enumerate(rows[0])}; last = rows[-1]
succ = int(float(last[col["SuccessfulCall(C)"]]))
ep = lambda n: float(last[col[n]].split("\t")[-1])
elapsed = ep("CurrentTime") - ep("StartTime")
u, s = (float(x) for x in open(timef).read().split()[-2:])
us = 1e6 * kt / tck / succ if succ else float("nan")
ach = succ / elapsed if elapsed > 0 else 0
fail = 100.0 * (calls - succ) / calls
print("sipp      cross_%-16s %7d %8.0f %7.2f%% %8.1f %7s %7s %s  srv %5.1f%% client %5.1f%%" % (
    fam, rate, ach, fail, us, "-", "-", "PASS" if fail < 0.1 and ach >= 0.95 * rate else "FAIL",
    100 * kt / tck / wall, 100 * (u + s) / wall))
with open(results, "a") as f:
    f.write("\t".join(map(str, ("cross", "sipp", fam, rate, "%.0f" % ach, "%.3f" % fail, "%.1f" % us, "%.1f" % (100 * (u + s) / wall),
                                "%.1f" % (100 * kt / tck / wall)))) + "\n")
PY
        sleep 2
        load sipwarden "cross_$fam" register --transport "$fam" --users "1000-$LAST_USER" --rate "$CROSS_RATE" \
            --calls "$calls" --contact "$IP:5080" --algorithm MD5
        awk -F'\t' -v f="$fam" '$1 == "run" && $3 == "cross_" f' "$RUN/results.tsv" | tail -1 |
            awk -F'\t' -v f="$fam" -v r="$CROSS_RATE" '{print "cross\tsipwarden-load\t" f "\t" r "\t" $5 "\t" $6 "\t" $7 "\t-\t" $11}' >> "$RUN/results.tsv"
    done
    stop_server sipwarden
}

# ---------------------------------------------------------------- main
make_pki
: > "$RUN/results.tsv"
echo "# date $(date -u +%FT%TZ)  host $(uname -srm)  cpus $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sipwarden $("$SIPWARDEN" version 2>/dev/null | awk '{print $2}') ($SIPWARDEN, built $(date -u -r "$SIPWARDEN" +%FT%TZ); repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)) workers=$WORKERS"
echo "# $(kamailio -v | head -1) children=$CHILDREN   $(openssl version)   load client $LOAD_BIN (TLS $TLS_VERSION, one thread)   server key $KEY"
echo "# users 1000..$LAST_USER; fixed runs ${DURATION}s, search steps ${SEARCH_DURATION}s; logs and JSON lines in $LOGS"
printf "%-9s %-22s %7s %8s %8s %8s %7s %7s %s\n" server run offered achieved notok "us/call" p50ms p99ms verdict
for s in $SERVERS; do
    for ph in $PHASES; do "phase_$ph" "$s"; done
done
case " $SERVERS " in *" sipwarden "*) [ "$CROSSCHECK" = 1 ] && phase_crosscheck ;; esac
echo "# end $(date -u +%FT%TZ)  load $(cut -d' ' -f1-3 /proc/loadavg)"

echo
python3 - "$RUN/results.tsv" <<'PY'
import sys
runs, best, idle, cross = {}, {}, {}, []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "run": runs[(f[2], f[1])] = f
    elif f[0] == "best": best[(f[2], f[1])] = f
    elif f[0] == "idle": idle[f[1]] = f
    elif f[0] == "cross": cross.append(f)
def ratio(a, b):
    try:
        a, b = float(a), float(b)
        return "%.2f" % (a / b) if b > 0 and a == a and b == b else "-"
    except ValueError:
        return "-"
tags = sorted({t for t, _ in runs if not t.startswith("cross")}, key=lambda t: ("hs" not in t, t))
if tags:
    print("# fixed offered rates, same on both servers (us/call = server CPU per successful call)")
    print("%-20s %7s | %9s %8s %7s %11s | %9s %8s %7s %11s | %6s" % ("run", "offered", "sw us", "sw ach", "sw fail",
          "sw p50/p99", "kam us", "kam ach", "kam fail", "kam p50/p99", "ratio"))
    for t in tags:
        s, k = runs.get((t, "sipwarden")), runs.get((t, "kamailio"))
        def cols(r):
            return "%9s %8s %6s%% %11s" % (r[6], r[4], r[5], "%s/%s" % (r[7], r[8])) if r else "%9s %8s %7s %11s" % (("-",) * 4)
        off = (s or k)[3]
        print("%-20s %7s | %s | %s | %6s" % (t, off, cols(s), cols(k), ratio(s[6] if s else "", k[6] if k else "")))
if best:
    print("\n# highest passing rate (< 0.1% not successful, achieved >= 95% of offered)")
    for t in sorted({t for t, _ in best}):
        s, k = best.get((t, "sipwarden")), best.get((t, "kamailio"))
        print("%-20s sipwarden %8s/s   kamailio %8s/s   ratio %s" % (t, s[3] if s else "-", k[3] if k else "-",
                                                                     ratio(s[3] if s else "", k[3] if k else "")))
if idle:
    print("\n# memory per idle TLS connection (register: REGISTER with credentials, then idle; options: one OPTIONS)")
    for srv, f in idle.items():
        print("%-18s %6s of %6s open: %6s B (PSS) %6s B (RSS) per connection; lost during hold %s; PSS %s -> %s MiB held -> %s MiB closed" % (
            srv, f[2], f[3], f[4], f[5], f[6], f[9], f[7], f[10]))
died = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.startswith("died\t")]
if died:
    print("\n# servers that died: " + "; ".join("%s during %s" % (d[1], d[2]) for d in died))
if cross:
    print("\n# cross-check against SIPp: REGISTER against sipwarden at the same fixed rate")
    print("%-15s %-4s %7s %9s %8s %9s %9s" % ("client", "tr", "offered", "achieved", "notok", "srv us", "srv cpu%"))
    for f in cross:
        print("%-15s %-4s %7s %9s %7s%% %9s %9s" % (f[1], f[2], f[3], f[4], f[5], f[6], f[8]))
PY

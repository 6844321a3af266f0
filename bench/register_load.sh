#!/usr/bin/env bash
# REGISTER with digest authentication under load: sipwarden against Kamailio 5.6.3 in the same
# run, with the same SIPp scenario (../shared/bench/kamailio/register_auth.xml: REGISTER -> 401 ->
# REGISTER with credentials -> 200, each call a different user 1000..10999, password pw-N, realm
# example.test) over UDP and TCP (one connection), everything on 127.0.0.1.
#
# Usage: bench/register_load.sh            (after `make build`; run as root for port 5060)
# Knobs: RATES ["5000 20000"] fixed offered rates (calls/s)   DURATION [8] seconds per run
#        SEARCH ["10000 15000 20000 25000 30000 40000"] rates tried for the highest passing rate
#        TRANSPORTS ["u1 t1"]   SERVERS ["sipwarden kamailio"]   WORKERS [2] sipwarden workers
#        CHILDREN [2] kamailio children   SIPWARDEN [build/release/sipwarden]
#        KAM_MEM [""] Kamailio's memory manager: "" keeps its default (q_malloc, which Debian's
#          build compiles with DBG_SR_MEMORY: about half of its CPU per REGISTER here); "tlsf" or "fm": -x
#        IP [127.0.0.1] loopback address both servers listen on (another 127.x when 127.0.0.1:5060
#        is taken by a server this script did not start; the Kamailio copy is edited to match)
#        SW_SYNC [full] sipwarden's [store] synchronous: "normal" = no sync per commit
# Output: one line per run: server, transport, offered rate, calls, successes, failure %, achieved
# calls/s, server CPU (µs per successful call and % of one core, from /proc utime+stime of every
# server process), of which in the kernel (stime: µs per call), SIPp CPU %, response time p50/p99 (ms, bucket upper bounds: first REGISTER to
# the 200), verdict (PASS = < 0.1% unsuccessful and achieved >= 95% of offered).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/sipwarden_config.sh"
ROOT=$(cd "$HERE/.." && pwd)
PEER=${PEER:-$ROOT/../shared/bench/kamailio}
RATES=${RATES:-"5000 20000"}
SEARCH=${SEARCH:-"10000 15000 20000 25000 30000 40000"}
DURATION=${DURATION:-8}
TRANSPORTS=${TRANSPORTS:-"u1 t1"}
SERVERS=${SERVERS:-"sipwarden kamailio"}
WORKERS=${WORKERS:-2}
CHILDREN=${CHILDREN:-2}
SIPWARDEN=${SIPWARDEN:-$ROOT/build/release/sipwarden}
SIPP_BUF=4194304
CLK_TCK=$(getconf CLK_TCK)
IP=${IP:-127.0.0.1}

die() { echo "ERROR: $*" >&2; exit 1; }
for b in sipp kamailio sipsak python3 openssl; do command -v "$b" >/dev/null || die "missing $b (bash scripts/setup.sh)"; done
[ -x "$SIPWARDEN" ] || die "no $SIPWARDEN: run make build"
[ -f "$PEER/register_auth.xml" ] || die "peer harness not found at $PEER"

RUN=$(mktemp -d /tmp/sipwarden-bench.XXXXXX)
SPID=""
cleanup() {
    [ -n "$SPID" ] && { kill "$SPID" 2>/dev/null; sleep 1; kill -9 "$SPID" 2>/dev/null; }
    pkill -f "kamailio -f $RUN/peer/kamailio.cfg" 2>/dev/null
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{ echo SEQUENTIAL; for ((u = 1000; u < 11000; u++)); do echo "$u;$u"; done; } > "$RUN/users.csv"

ticks() {  # utime+stime of the given processes (all their threads), in clock ticks
    local p s=0
    for p in "$@"; do [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{sub(/^.*\) /,""); print $12+$13}' "/proc/$p/stat"))); done
    echo $s
}
sticks() {  # stime alone (CPU spent in the kernel on the processes' behalf), in clock ticks
    local p s=0
    for p in "$@"; do [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{sub(/^.*\) /,""); print $13}' "/proc/$p/stat"))); done
    echo $s
}

# Something already answering on the address would be measured instead of the server started here.
port_free() { ! sipsak -s "sip:$IP:5060" >/dev/null 2>&1 || die "something already answers on $IP:5060 (try IP=127.0.0.2)"; }

start_sipwarden() {
    port_free
    mkdir -p "$RUN/data"
    for ((u = 1000; u < 11000; u++)); do echo "$u@example.test pw-$u"; done > "$RUN/users.txt"
    sipwarden_config "$RUN/data" "$WORKERS" "udp:$IP:5060" "tcp:$IP:5060" > "$RUN/sipwarden.toml"
    "$SIPWARDEN" user import "$RUN/users.txt" --config "$RUN/sipwarden.toml" >/dev/null || die "user import failed"
    "$SIPWARDEN" serve --config "$RUN/sipwarden.toml" 2> "$RUN/sipwarden.log" &
    SPID=$!
    for _ in $(seq 50); do sleep 0.2; sipsak -s "sip:$IP:5060" >/dev/null 2>&1 && break; done
    sipsak -s "sip:$IP:5060" >/dev/null 2>&1 || { cat "$RUN/sipwarden.log"; die "sipwarden does not answer OPTIONS"; }
    PIDS=$SPID
}

start_kamailio() {
    port_free
    mkdir -p "$RUN/kam"
    # A private copy of the peer harness, with the self-signed certificate its TLS listener needs
    # (the harness's run.sh would write it into the shared folder).
    if [ ! -d "$RUN/peer" ]; then
        cp -r "$PEER" "$RUN/peer"
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=example.test" \
            -keyout "$RUN/peer/anchor-key.pem" -out "$RUN/peer/anchor-cert.pem" 2>/dev/null || die "openssl failed"
        [ "$IP" = 127.0.0.1 ] || sed -i "s/127\.0\.0\.1/$IP/g" "$RUN/peer/kamailio.cfg"
    fi
    kamailio -f "$RUN/peer/kamailio.cfg" -DD -E -m 4096 -M 32 ${KAM_MEM:+-x "$KAM_MEM"} -Y "$RUN/kam" -w "$RUN/kam" -P "$RUN/kam/kamailio.pid" \
        -A "CHILDREN=$CHILDREN" -A "CTLSOCK=\"unix:$RUN/kam/ctl\"" > "$RUN/kamailio.log" 2>&1 &
    SPID=$!
    for _ in $(seq 50); do sleep 0.2; sipsak -s "sip:$IP:5060" >/dev/null 2>&1 && break; done
    sipsak -s "sip:$IP:5060" >/dev/null 2>&1 || { tail -20 "$RUN/kamailio.log"; die "kamailio does not answer OPTIONS"; }
    PIDS="$SPID $(cat /proc/"$SPID"/task/*/children 2>/dev/null)"
}

stop_server() {
    kill "$SPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=""
    sleep 1
}

# run_one SERVER TRANSPORT RATE -> prints a result line; returns 0 on PASS
run_one() {
    local server=$1 t=$2 rate=$3 calls fam lp=()
    calls=$((rate * DURATION))
    case $t in u1) fam=udp; lp=(-p 5070) ;; t1) fam=tcp ;; esac
    local csv="$RUN/stat.csv"; rm -f "$csv" "$RUN"/*.err
    local k0 k1 t0 t1
    k0=$(ticks $PIDS); s0=$(sticks $PIDS); t0=$(date +%s.%N)
    ( TIMEFORMAT='%3U %3S'
      { time timeout -k 5 $((DURATION + 60)) sipp "$IP:5060" -sf "$PEER/register_auth.xml" -inf "$RUN/users.csv" \
          -key contact_hostport "$IP:5080" -key contact_transport "$fam" -i "$IP" "${lp[@]}" -t "$t" \
          -r "$rate" -m "$calls" -buff_size "$SIPP_BUF" -max_socket 1000 -nostdin -timeout "$((DURATION + 40))s" \
          -recv_timeout 10000 -trace_stat -stf "$csv" -fd 1 -trace_err -error_file "$RUN/sipp.err" \
          >/dev/null 2>"$RUN/sipp.stderr" </dev/null; } 2> "$RUN/sipp.time" )
    t1=$(date +%s.%N); k1=$(ticks $PIDS); s1=$(sticks $PIDS)
    python3 - "$csv" "$RUN/sipp.time" "$server" "$t" "$rate" "$calls" "$((k1 - k0))" "$CLK_TCK" "$t0" "$t1" "$((s1 - s0))" <<'PY'
import csv, sys
path, timef, server, t, rate, calls, ticks, tck, t0, t1, sticks = sys.argv[1:]
rate, calls, ticks, tck, sticks = int(rate), int(calls), int(ticks), int(tck), int(sticks)
wall = float(t1) - float(t0)
rows = list(csv.reader(open(path), delimiter=";")) if path else []
head, last = rows[0], rows[-1]
col = {name: i for i, name in enumerate(head)}
def num(name): return int(float(last[col[name]]))
def ep(name): return float(last[col[name]].split("\t")[-1])
succ, failed = num("SuccessfulCall(C)"), num("FailedCall(C)")
elapsed = ep("CurrentTime") - ep("StartTime")
buckets = []
for name, i in col.items():
    if name.startswith("ResponseTimeRepartition1_"):
        b = name[len("ResponseTimeRepartition1_"):]
        bound = float(b.strip("<>=")) if b.strip("<>=") else 1e9
        buckets.append((bound + (1e6 if b.startswith(">=") else 0), b, int(last[i])))
buckets.sort()
total = sum(c for _, _, c in buckets)
def pct(p):
    acc = 0
    for _, b, c in buckets:
        acc += c
        if total and acc >= p * total: return b
    return "-"
u, s = (float(x) for x in open(timef).read().split())
notok = calls - succ
fail_pct = 100.0 * notok / calls
achieved = succ / elapsed if elapsed > 0 else 0
cpu_s = ticks / tck
us_per_call = 1e6 * cpu_s / succ if succ else float("nan")
verdict = "PASS" if fail_pct < 0.1 and achieved >= 0.95 * rate else "FAIL"
kern_per_call = 1e6 * sticks / tck / succ if succ else float("nan")
print("%-9s %-3s %6d %7d %7d %6.2f%% %8.0f %8.1f %8.1f %6.1f%% %6.1f%% %6s %6s %s" % (
    server, t, rate, calls, succ, fail_pct, achieved, us_per_call, kern_per_call, 100 * cpu_s / wall,
    100 * (u + s) / wall, pct(0.5), pct(0.99), verdict))
sys.exit(0 if verdict == "PASS" else 1)
PY
}

echo "# date $(date -u +%FT%TZ)  host $(uname -srm)  cpus $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# sipwarden $("$SIPWARDEN" version | awk '{print $2}') ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)) workers=$WORKERS synchronous=${SW_SYNC:-full}   $(kamailio -v | head -1) children=$CHILDREN   $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*')"
echo "# duration ${DURATION}s per run; server CPU = utime+stime of all server processes / successful calls; kern_us = the stime part"
printf "%-9s %-3s %6s %7s %7s %7s %8s %8s %8s %7s %7s %6s %6s %s\n" server tr rate calls success fail achieved "us/call" "kern_us" "srv_cpu" "sipp" p50 p99 verdict
for server in $SERVERS; do
    for t in $TRANSPORTS; do
        "start_$server"
        for rate in $RATES; do run_one "$server" "$t" "$rate"; sleep 2; done
        best=0
        for rate in $SEARCH; do
            if run_one "$server" "$t" "$rate"; then best=$rate; else break; fi
            sleep 2
        done
        echo "## $server $t: highest passing rate tried: $best/s"
        stop_server
    done
done

#!/usr/bin/env bash
# The stateful proxy under load: sipwarden against Kamailio 5.6.3 in the same run, with the peer
# harness's SIPp scenarios (../shared/bench/kamailio/):
#   message_auth.xml  MESSAGE -> 407 -> MESSAGE with proxy credentials -> 200 from the callee
#   invite_auth.xml   INVITE -> 407 -> ACK -> INVITE with credentials -> 100/180/200 -> ACK -> BYE -> 200
# over UDP and TCP (one connection from SIPp), everything on 127.0.0.1. The callee is a SIPp UAS
# (uas.xml) on port 5080 of the same transport. Before the measured runs of a server and transport,
# every user 1000..10999 (password pw-N, realm example.test) is registered through the server with
# register_auth.xml, Contact <sip:N@127.0.0.1:5080;transport=udp|tcp>, as the harness's run.sh does.
# Caller N calls callee 1000 + (N - 1000 + 5000) mod 10000 (the harness's users.csv).
#
# Usage: bench/proxy_load.sh            (after `make build`; ports 5060, 5070 and 5080 must be free)
#   SIPWARDEN_BIN=build/h-bench/sipwarden RATES=200 DURATION=10 bench/proxy_load.sh   (a smoke run)
#   SEARCH=1 bench/proxy_load.sh                                                     (with limits)
# Knobs: RATES ["1000 2000"] fixed offered rates (calls/s)   DURATION [10] seconds per run
#        SCENARIOS ["message_auth invite_auth"]   TRANSPORTS ["u1 t1"]   SERVERS ["sipwarden kamailio"]
#        SEARCH [0]: 1 = then try SEARCH_RATES in rising order until a run fails, per scenario
#        SEARCH_RATES ["500 1000 1500 2000 2500 3000 4000 5000 6000 8000 10000 12000"]
#        WORKERS [2] sipwarden workers   CHILDREN [2] kamailio children   PROVISION_RATE [2000]
#        KAM_MEM [""] Kamailio's memory manager: "" keeps its default (q_malloc, which Debian's
#          build compiles with DBG_SR_MEMORY: about half of its CPU per REGISTER here); "tlsf" or "fm": -x
#        SW_TCP_PROVISION [udp] how the callees are registered for sipwarden's TCP runs, see below
#        IDLE [5] seconds over which the idle server's CPU is measured after provisioning
#        SIPWARDEN_BIN [build/release/sipwarden]   LOGS [/tmp/proxy_load-<time>] kept logs
#        SW_SYNC [full] sipwarden's [store] synchronous: "normal" = no sync per commit
# Output: one line per run: server, scenario, transport, offered rate, calls, successes, not
# successful % (failed or unfinished, of the calls offered), achieved calls/s, server CPU (µs per
# successful call and % of one core, utime+stime of every server process and thread from /proc),
# SIPp UAC and UAS CPU %, response time p50/p99 in ms (SIPp -trace_rtt, 1 ms resolution, 0 = below
# 1 ms; first request of the call to the 200 of the authenticated request), verdict (PASS = < 0.1%
# not successful and achieved >= 95% of offered). Then a table side by side with the
# sipwarden/Kamailio ratio of µs per call, and with SEARCH=1 the highest passing rate per case.
# Registering the callees: Kamailio as the harness's run.sh does, over the transport of the runs
# (its lookup() relays to the Contact, opening a TCP connection to the UAS). sipwarden sends to a
# TCP binding over the connection its REGISTER came on (docs/architecture.md, "Where to"); that
# connection belongs to the registering SIPp, closed when it exits, so every call would get 430
# Flow Failed. So for sipwarden's TCP runs the same Contact (transport=tcp) is registered over UDP
# (SW_TCP_PROVISION=udp): sipwarden then connects to the Contact, as Kamailio does, and the measured
# traffic is the same for both (caller over TCP, one TCP connection from the server to the UAS).
# SW_TCP_PROVISION=tcp registers over TCP as for Kamailio (to see the 430s). (At 9f24ad1 sipwarden's
# new outbound TCP connection loses the request that opens it; see bench/RESULTS.md.)
# The idle CPU of each server (its timers) is measured after provisioning; "net" is the µs per call
# without it (at low rates the idle CPU is a large part of the µs per call).
# SIPp error logs of runs with unsuccessful calls, the UAS logs and the server logs are kept in LOGS.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/sipwarden_config.sh"
ROOT=$(cd "$HERE/.." && pwd)
PEER=${PEER:-$ROOT/../shared/bench/kamailio}
RATES=${RATES:-"1000 2000"}
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-"message_auth invite_auth"}
TRANSPORTS=${TRANSPORTS:-"u1 t1"}
SERVERS=${SERVERS:-"sipwarden kamailio"}
SEARCH=${SEARCH:-0}
SEARCH_RATES=${SEARCH_RATES:-"500 1000 1500 2000 2500 3000 4000 5000 6000 8000 10000 12000"}
WORKERS=${WORKERS:-2}
CHILDREN=${CHILDREN:-2}
PROVISION_RATE=${PROVISION_RATE:-2000}
SW_TCP_PROVISION=${SW_TCP_PROVISION:-udp}
IDLE=${IDLE:-5}
SIPWARDEN=${SIPWARDEN_BIN:-${SIPWARDEN:-$ROOT/build/release/sipwarden}}
LOGS=${LOGS:-/tmp/proxy_load-$(date +%Y%m%d-%H%M%S)}
SIPP_BUF=4194304
CLK_TCK=$(getconf CLK_TCK)
IP=127.0.0.1
UAS_PORT=5080
UAC_UDP_PORT=5070
USERS=10000   # users 1000..10999, as in the harness

die() { echo "ERROR: $*" >&2; exit 1; }
for b in sipp kamailio sipsak python3 openssl timeout ss; do command -v "$b" >/dev/null || die "missing $b (bash scripts/setup.sh)"; done
case " $SERVERS " in *" sipwarden "*)
    [ -x "$SIPWARDEN" ] || die "no $SIPWARDEN: run make build, or set SIPWARDEN_BIN"
    # A binary older than the last commit of src/ measures some other server (a build from before
    # the proxy answers every call with an error). Uncommitted edits are not checked.
    src_time=$(git -C "$ROOT" log -1 --format=%ct -- src 2>/dev/null || echo 0)
    [ "$(stat -c %Y "$SIPWARDEN")" -ge "${src_time:-0}" ] || [ "${ALLOW_STALE:-0}" = 1 ] ||
        die "$SIPWARDEN is older than the last commit of src/ ($(git -C "$ROOT" log -1 --format=%h -- src)): rebuild, set SIPWARDEN_BIN, or ALLOW_STALE=1"
    ;; esac
for s in $SCENARIOS register_auth uas; do [ -f "$PEER/$s.xml" ] || die "peer harness scenario $PEER/$s.xml not found"; done
for p in 5060 $UAC_UDP_PORT $UAS_PORT; do
    [ -z "$(ss -Hlntu "sport = :$p" 2>/dev/null)" ] || die "port $p is in use on this machine"
done
[ "$SEARCH" = 0 ] && SEARCH_RATES=""

mkdir -p "$LOGS" || die "cannot create $LOGS"
RUN=$(mktemp -d /tmp/sipwarden-proxy-bench.XXXXXX)
mkdir -p "$RUN/w"

# Every process this script starts runs under `timeout` (a bound even if this script is killed
# with SIGKILL) and is recorded here by id; nothing is killed by name.
OWNED=""
# Upper bound on one server block (provisioning + every run of a server and transport).
nruns=$(( ( $(echo $RATES | wc -w) + $(echo $SEARCH_RATES | wc -w) ) * $(echo $SCENARIOS | wc -w) ))
BLOCK_BOUND=$(( nruns * (DURATION + 75) + USERS / PROVISION_RATE + 180 ))

descendants() {  # PIDS... -> those pids and all their descendants
    local p
    for p in "$@"; do
        echo "$p"
        descendants $(cat /proc/"$p"/task/*/children 2>/dev/null)
    done
}
cleanup() {
    local p
    OWNED=$(descendants $OWNED | sort -un)
    for p in $OWNED; do kill "$p" 2>/dev/null; done
    for _ in $(seq 30); do
        local alive=""
        for p in $OWNED; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 0.2
    done
    for p in $OWNED; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn BOUND LOG CMD...: start CMD under `timeout BOUND`; WRAP = timeout's pid, CHILD = CMD's pid
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
# forget PIDS... once they have ended, so that cleanup never signals a recycled pid
forget() {
    local p keep=""
    for p in $OWNED; do case " $* " in *" $p "*) ;; *) keep="$keep $p" ;; esac; done
    OWNED=$keep
}
# stop PIDS...: TERM, up to 5 s, then KILL; every pid is one this script started
stop_pids() {
    local p alive
    for p in "$@"; do kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        alive=""; for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 0.1
    done
    for p in "$@"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    forget "$@"
    return 0
}

# users.csv: caller;callee (the harness's pairing); the callee of caller N is registered too
{ echo SEQUENTIAL; for ((u = 1000; u < 1000 + USERS; u++)); do echo "$u;$((1000 + (u - 1000 + 5000) % USERS))"; done; } > "$RUN/users.csv"

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

answers_options() { sipsak -s "sip:$IP:5060" >/dev/null 2>&1; }

start_sipwarden() {
    if [ ! -d "$RUN/data.pristine" ]; then
        # Users once, into a data directory copied afresh for each server start, so that no
        # binding of an earlier transport survives into the next one.
        mkdir -p "$RUN/data.pristine"
        for ((u = 1000; u < 1000 + USERS; u++)); do echo "$u@example.test pw-$u"; done > "$RUN/users.txt"
        "$SIPWARDEN" user import "$RUN/users.txt" --data-dir "$RUN/data.pristine" --domain example.test >/dev/null \
            || die "sipwarden user import failed"
    fi
    rm -rf "$RUN/data"; cp -a "$RUN/data.pristine" "$RUN/data"
    sipwarden_config "$RUN/data" "$WORKERS" "udp:$IP:5060" "tcp:$IP:5060" > "$RUN/sipwarden.toml"
    spawn "$BLOCK_BOUND" "$RUN/server.log" "$SIPWARDEN" serve --config "$RUN/sipwarden.toml"
    SWRAP=$WRAP; SPID=$CHILD
    for _ in $(seq 50); do sleep 0.2; answers_options && break; done
    answers_options || { cat "$RUN/server.log"; die "sipwarden does not answer OPTIONS"; }
    PIDS=$SPID
}

start_kamailio() {
    mkdir -p "$RUN/kam"
    # A private copy of the peer harness, with the self-signed certificate its TLS listener needs
    # (the harness's run.sh would write it into the shared folder).
    if [ ! -d "$RUN/peer" ]; then
        cp -r "$PEER" "$RUN/peer"; chmod -R u+w "$RUN/peer"
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=example.test" \
            -keyout "$RUN/peer/anchor-key.pem" -out "$RUN/peer/anchor-cert.pem" 2>/dev/null || die "openssl failed"
    fi
    spawn "$BLOCK_BOUND" "$RUN/server.log" kamailio -f "$RUN/peer/kamailio.cfg" -DD -E -m 4096 -M 32 ${KAM_MEM:+-x "$KAM_MEM"} -Y "$RUN/kam" \
        -w "$RUN/kam" -P "$RUN/kam/kamailio.pid" -A "CHILDREN=$CHILDREN" -A "CTLSOCK=\"unix:$RUN/kam/ctl\""
    SWRAP=$WRAP; SPID=$CHILD
    for _ in $(seq 50); do sleep 0.2; answers_options && break; done
    answers_options || { tail -20 "$RUN/server.log"; die "kamailio does not answer OPTIONS"; }
    PIDS="$SPID $(cat /proc/"$SPID"/task/*/children 2>/dev/null)"
    OWNED="$OWNED $PIDS"
}

stop_server() {  # $1 = server, $2 = transport (for the kept log)
    stop_pids $SWRAP $PIDS
    tail -c 2000000 "$RUN/server.log" > "$LOGS/$1_$2.server.log"
    sleep 1
}

fam_of() { case $1 in u*) echo udp ;; t*) echo tcp ;; esac; }

start_uas() {  # $1 = transport (u1 or t1)
    rm -f "$RUN/uas.err"
    spawn "$BLOCK_BOUND" "$RUN/uas.stderr" sipp -sf "$PEER/uas.xml" -i "$IP" -p "$UAS_PORT" -t "$1" -nostdin \
        -max_socket 1000 -buff_size "$SIPP_BUF" -trace_err -error_file "$RUN/uas.err" -max_log_size 5000000
    UWRAP=$WRAP; UPID=$CHILD
    sleep 1
    kill -0 "$UPID" 2>/dev/null || { cat "$RUN/uas.stderr"; die "UAS did not start"; }
}
stop_uas() {  # $1 = server, $2 = transport
    stop_pids $UWRAP $UPID
    [ -s "$RUN/uas.err" ] && head -c 2000000 "$RUN/uas.err" > "$LOGS/$1_$2.uas.err"
    return 0
}

# sipp_uac SCENARIO TRANSPORT RATE CALLS TAG [args...]: one bounded SIPp client run in $RUN/w;
# its stat file is $RUN/TAG.csv, its CPU (user sys) in $RUN/TAG.time, errors in $RUN/TAG.err
sipp_uac() {
    local scen=$1 t=$2 rate=$3 calls=$4 tag=$5 lp=(); shift 5
    [ "$(fam_of "$t")" = udp ] && lp=(-p "$UAC_UDP_PORT")
    local gto=$(( calls / rate + 40 ))
    rm -f "$RUN/w/"*_rtt.csv "$RUN/$tag".*
    ( cd "$RUN/w" && TIMEFORMAT='%3U %3S'
      { time timeout -k 5 $((gto + 20)) sipp "$IP:5060" -sf "$PEER/$scen.xml" -inf "$RUN/users.csv" "$@" \
          -i "$IP" "${lp[@]}" -t "$t" -r "$rate" -m "$calls" -buff_size "$SIPP_BUF" -max_socket 1000 -nostdin \
          -timeout "${gto}s" -recv_timeout 10000 -trace_stat -stf "$RUN/$tag.csv" -fd 1 \
          -trace_err -error_file "$RUN/$tag.err" -max_log_size 2000000 -trace_rtt -rtt_freq 1 \
          >/dev/null 2>"$RUN/$tag.stderr" </dev/null; } 2> "$RUN/$tag.time" ) &
    local c=$! rc
    OWNED="$OWNED $c"
    wait "$c"; rc=$?
    forget "$c"
    return $rc
}

# Registers every user with the UAS as Contact, over the transport of the runs to come.
provision() {  # $1 = server, $2 = transport
    local fam pt=$2; fam=$(fam_of "$2")
    [ "$1" = sipwarden ] && [ "$fam" = tcp ] && [ "$SW_TCP_PROVISION" = udp ] && pt=u1
    PROVISIONED_OVER=$pt
    sipp_uac register_auth "$pt" "$PROVISION_RATE" "$USERS" provision \
        -key contact_hostport "$IP:$UAS_PORT" -key contact_transport "$fam"
    local ok
    ok=$(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1]),delimiter=";")); print(int(r[-1][r[0].index("SuccessfulCall(C)")]))' \
        "$RUN/provision.csv" 2>/dev/null)
    if [ "${ok:-0}" != "$USERS" ]; then
        cp "$RUN/provision.err" "$LOGS/$1_$2.provision.err" 2>/dev/null
        die "provisioning $USERS callees through $1 over $2 registered ${ok:-0} (see $LOGS)"
    fi
}

# run_one SERVER SCENARIO TRANSPORT RATE -> prints a result line (and keeps it); 0 on PASS
run_one() {
    local server=$1 scen=$2 t=$3 rate=$4 calls tag k0 k1 s0 s1 u0 u1 t0 t1 rc
    calls=$((rate * DURATION)); tag="${server}_${scen}_${t}_$rate"
    k0=$(ticks $PIDS); s0=$(sticks $PIDS); u0=$(ticks $UPID); t0=$(date +%s.%N)
    sipp_uac "$scen" "$t" "$rate" "$calls" "$tag"
    t1=$(date +%s.%N); k1=$(ticks $PIDS); s1=$(sticks $PIDS); u1=$(ticks $UPID)
    python3 - "$RUN/$tag.csv" "$RUN/$tag.time" "$RUN/w" "$server" "$scen" "$t" "$rate" "$calls" \
        "$((k1 - k0))" "$((u1 - u0))" "$CLK_TCK" "$t0" "$t1" "$RUN/results.tsv" "$IDLE_PCT" "$((s1 - s0))" <<'PY'
import csv, glob, os, sys
path, timef, rttdir, server, scen, t, rate, calls, kt, ut, tck, t0, t1, results, idle, st = sys.argv[1:]
rate, calls, kt, ut, tck, st = int(rate), int(calls), int(kt), int(ut), int(tck), int(st)
wall = float(t1) - float(t0)
succ = failed = 0
elapsed = 0.0
if os.path.exists(path):
    rows = list(csv.reader(open(path), delimiter=";"))
    if len(rows) >= 2:
        col = {name: i for i, name in enumerate(rows[0])}
        last = rows[-1]
        succ = int(float(last[col["SuccessfulCall(C)"]]))
        ep = lambda name: float(last[col[name]].split("\t")[-1])
        elapsed = ep("CurrentTime") - ep("StartTime")
# per-call response times (ms) of rtd 1: first request of the call .. 200 of the authenticated one
rt = []
for f in glob.glob(os.path.join(rttdir, "*_rtt.csv")):
    for line in open(f):
        p = line.strip().split(";")
        if len(p) == 3 and p[2] == "1":
            try: rt.append(float(p[1]))
            except ValueError: pass
rt.sort()
def pct(q):
    return "%.0f" % rt[min(len(rt) - 1, int(q * len(rt)))] if rt else "-"
try:
    u, s = (float(x) for x in open(timef).read().split()[-2:])
except (OSError, ValueError):
    u = s = 0.0
notok = calls - succ
fail_pct = 100.0 * notok / calls
achieved = succ / elapsed if elapsed > 0 else 0
cpu_s = kt / tck
us_per_call = 1e6 * cpu_s / succ if succ else float("nan")
# the same without the idle server's CPU (its timers), measured before the runs
net = 1e6 * max(0.0, cpu_s - float(idle) / 100 * wall) / succ if succ else float("nan")
verdict = "PASS" if fail_pct < 0.1 and achieved >= 0.95 * rate else "FAIL"
kern = 1e6 * st / tck / succ if succ else float("nan")
line = "%-9s %-12s %-3s %6d %7d %7d %6.2f%% %8.0f %8.1f %6.1f %6.1f %6.1f%% %6.1f%% %6.1f%% %5s %5s %s" % (
    server, scen, t, rate, calls, succ, fail_pct, achieved, us_per_call, net, kern, 100 * cpu_s / wall,
    100 * (u + s) / wall, 100 * ut / tck / wall, pct(0.5), pct(0.99), verdict)
print(line, flush=True)
with open(results, "a") as out:
    out.write("\t".join(str(x) for x in (server, scen, t, rate, calls, succ, "%.3f" % fail_pct, "%.0f" % achieved,
                                          "%.1f" % us_per_call, pct(0.5), pct(0.99), verdict, "%.1f" % net)) + "\n")
sys.exit(0 if verdict == "PASS" else 1)
PY
    rc=$?
    [ -s "$RUN/$tag.err" ] && python3 - "$RUN/$tag.err" <<'PY'
import collections, re, sys
text = open(sys.argv[1], errors="replace").read()
seen = collections.Counter()
# events start with "<date>\t<time>\t<epoch>: "; a "Dead call" event repeats the one before it
for ev in re.split(r"\n?\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: ", text)[1:]:
    m = re.search(r"while expecting '([^']*)' \(index \d+\), received '([^\r\n]*)", ev)
    if m:
        seen["expected %s, received %s" % (m.group(1), m.group(2).strip())] += 1
    elif not ev.startswith("Dead call"):
        seen[re.sub(r"\d+-\d+@[\d.]+", "<call>", re.sub(r"'[^']*'", "'..'", ev.split("\n")[0]))[:110]] += 1
if seen:
    print("##   SIPp errors: " + "; ".join("%d x %s" % (n, k) for k, n in seen.most_common(3)))
PY
    if [ -s "$RUN/$tag.err" ] || [ "$rc" != 0 ]; then
        for f in err stderr; do [ -s "$RUN/$tag.$f" ] && head -c 2000000 "$RUN/$tag.$f" > "$LOGS/$tag.$f"; done
    fi
    rm -f "$RUN/$tag".* "$RUN/w/"*_rtt.csv
    sleep 3   # retransmission and wait timers of this run settle before the next
    return $rc
}

: > "$RUN/results.tsv"; : > "$RUN/best.tsv"
echo "# date $(date -u +%FT%TZ)  host $(uname -srm)  cpus $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sipwarden $("$SIPWARDEN" version 2>/dev/null | awk '{print $2}') ($SIPWARDEN, built $(date -u -r "$SIPWARDEN" +%FT%TZ); repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)) workers=$WORKERS   $(kamailio -v | head -1) children=$CHILDREN   $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*')"
echo "# duration ${DURATION}s per run; server CPU = utime+stime of all server processes / successful calls (kern: the stime part); logs in $LOGS"
printf "%-9s %-12s %-3s %6s %7s %7s %7s %8s %8s %6s %6s %7s %7s %7s %5s %5s %s\n" \
    server scenario tr rate calls success notok achieved "us/call" net kern srv_cpu sipp uas p50 p99 verdict
for server in $SERVERS; do
    for t in $TRANSPORTS; do
        "start_$server"
        start_uas "$t"
        provision "$server" "$t"
        sleep 2
        i0=$(ticks $PIDS); sleep "$IDLE"; i1=$(ticks $PIDS)
        IDLE_PCT=$(awk -v d=$((i1 - i0)) -v h="$CLK_TCK" -v s="$IDLE" 'BEGIN{printf "%.1f", 100 * d / h / s}')
        echo "## $server $t: $USERS callees registered over $PROVISIONED_OVER; idle server CPU ${IDLE_PCT}% of one core (over ${IDLE}s)"
        for scen in $SCENARIOS; do
            for rate in $RATES; do run_one "$server" "$scen" "$t" "$rate"; done
            if [ -n "$SEARCH_RATES" ]; then
                best=0
                for rate in $SEARCH_RATES; do
                    # a rate already run above counts with its verdict, not run again
                    v=$(awk -F'\t' -v s="$server" -v c="$scen" -v t="$t" -v r="$rate" \
                        '$1 == s && $2 == c && $3 == t && $4 == r {print $12; exit}' "$RUN/results.tsv")
                    if [ -n "$v" ]; then [ "$v" = PASS ] && { best=$rate; continue; }; break; fi
                    if run_one "$server" "$scen" "$t" "$rate"; then best=$rate; else break; fi
                done
                echo "## $server $scen $t: highest passing rate tried: $best/s"
                printf "%s\t%s\t%s\t%s\n" "$server" "$scen" "$t" "$best" >> "$RUN/best.tsv"
            fi
        done
        stop_uas "$server" "$t"
        stop_server "$server" "$t"
    done
done

echo
echo "# side by side (ratio = sipwarden us/call / Kamailio us/call; net ratio: the same without each server's idle CPU; p50/p99 ms)"
python3 - "$RUN/results.tsv" "$RUN/best.tsv" <<'PY'
import sys
res = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    res.setdefault((f[1], f[2], int(f[3]), f[0]), f)   # the first run of a case (fixed rates come first)
cases = sorted({k[:3] for k in res})
print("%-12s %-3s %6s | %9s %7s %9s | %9s %7s %9s | %6s %9s" % ("scenario", "tr", "rate", "sw us", "sw fail", "sw p50/99",
                                                             "kam us", "kam fail", "kam p50/99", "ratio", "net ratio"))
for c in cases:
    s, k = res.get(c + ("sipwarden",)), res.get(c + ("kamailio",))
    def cols(r): return ("%9s %6s%% %9s" % (r[8], r[6], r[9] + "/" + r[10])) if r else "%9s %7s %9s" % ("-", "-", "-")
    def ratio(i):
        try: r = float(s[i]) / float(k[i]) if s and k and float(k[i]) > 0 else float("nan")
        except ValueError: r = float("nan")
        return "-" if r != r else "%.2f" % r
    print("%-12s %-3s %6d | %s | %s | %6s %9s" % (c[0], c[1], c[2], cols(s), cols(k), ratio(8), ratio(12)))
best = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
if best:
    print("\n# highest passing rate tried (< 0.1% not successful, achieved >= 95%)")
    table = {}
    for server, scen, t, b in best: table.setdefault((scen, t), {})[server] = b
    for (scen, t), v in sorted(table.items()):
        print("%-12s %-3s sipwarden %6s/s   kamailio %6s/s" % (scen, t, v.get("sipwarden", "-"), v.get("kamailio", "-")))
PY

#!/usr/bin/env bash
# sipwarden's resident memory under a steady REGISTER load: the scenario, users and config of
# bench/register_load.sh (REGISTER -> 401 -> REGISTER with MD5 credentials -> 200, users
# 1000..10999), over UDP at one fixed rate, with the server's VmRSS and VmHWM read at given
# seconds into the load. Past 32 s (Timer J on UDP) the transactions that answered reach their
# plateau.
#
# Usage: unshare -n bash -c 'ip link set lo up; bench/register_rss.sh'
# Knobs: RATE [5000] calls/s   SECONDS_AT ["7 38"] when to read, seconds after SIPp starts
#        (the load lasts 4 s longer than the last)   SIPWARDEN [build/release/sipwarden]
#        WORKERS [2]   IP [127.0.0.1]
#        SW_SYNC [full] sipwarden's [store] synchronous: "normal" = no sync per commit
# Output: one line per reading (seconds, VmRSS, VmHWM in kB), then SIPp's successful and failed
# calls.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/sipwarden_config.sh"
ROOT=$(cd "$HERE/.." && pwd)
PEER=${PEER:-$ROOT/../shared/bench/kamailio}
RATE=${RATE:-5000}
SECONDS_AT=${SECONDS_AT:-"7 38"}
SIPWARDEN=${SIPWARDEN:-$ROOT/build/release/sipwarden}
WORKERS=${WORKERS:-2}
IP=${IP:-127.0.0.1}

die() { echo "ERROR: $*" >&2; exit 1; }
for b in sipp sipsak python3; do command -v "$b" >/dev/null || die "missing $b (bash scripts/setup.sh)"; done
[ -x "$SIPWARDEN" ] || die "no $SIPWARDEN: run make build"
[ -f "$PEER/register_auth.xml" ] || die "peer harness not found at $PEER"
! sipsak -s "sip:$IP:5060" >/dev/null 2>&1 || die "something already answers on $IP:5060 (try IP=127.0.0.2)"

RUN=$(mktemp -d /tmp/sipwarden-rss.XXXXXX)
SPID=""
SIPP=""
cleanup() {
    [ -n "$SIPP" ] && kill "$SIPP" 2>/dev/null
    [ -n "$SPID" ] && { kill "$SPID" 2>/dev/null; sleep 1; kill -9 "$SPID" 2>/dev/null; }
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

last=0
for t in $SECONDS_AT; do [ "$t" -gt "$last" ] && last=$t; done
DURATION=$((last + 4))

mkdir -p "$RUN/data"
{ echo SEQUENTIAL; for ((u = 1000; u < 11000; u++)); do echo "$u;$u"; done; } > "$RUN/users.csv"
for ((u = 1000; u < 11000; u++)); do echo "$u@example.test pw-$u"; done > "$RUN/users.txt"
sipwarden_config "$RUN/data" "$WORKERS" "udp:$IP:5060" > "$RUN/sipwarden.toml"
"$SIPWARDEN" user import "$RUN/users.txt" --config "$RUN/sipwarden.toml" >/dev/null || die "user import failed"
"$SIPWARDEN" serve --config "$RUN/sipwarden.toml" 2> "$RUN/sipwarden.log" &
SPID=$!
for _ in $(seq 50); do sleep 0.2; sipsak -s "sip:$IP:5060" >/dev/null 2>&1 && break; done
sipsak -s "sip:$IP:5060" >/dev/null 2>&1 || { cat "$RUN/sipwarden.log"; die "sipwarden does not answer OPTIONS"; }

echo "# date $(date -u +%FT%TZ)  sipwarden $("$SIPWARDEN" version | awk '{print $2}') ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))  rate $RATE/s over UDP for ${DURATION}s"
timeout $((DURATION + 60)) sipp "$IP:5060" -sf "$PEER/register_auth.xml" -inf "$RUN/users.csv" \
    -key contact_hostport "$IP:5080" -key contact_transport udp -i "$IP" -p 5070 -t u1 \
    -r "$RATE" -m $((RATE * DURATION)) -buff_size 4194304 -max_socket 1000 -nostdin \
    -timeout "$((DURATION + 40))s" -recv_timeout 10000 -trace_stat -stf "$RUN/stat.csv" -fd 1 \
    >/dev/null 2>"$RUN/sipp.stderr" </dev/null &
SIPP=$!
start=$(date +%s.%N)
for t in $(echo "$SECONDS_AT" | tr ' ' '\n' | sort -n); do
    now=$(date +%s.%N)
    sleep "$(python3 -c "print(max(0.0, $start + $t - $now))")"
    kill -0 "$SPID" 2>/dev/null || die "sipwarden exited"
    printf 'at %3ss  VmRSS %8s kB  VmHWM %8s kB\n' "$t" \
        "$(awk '/^VmRSS/ {print $2}' "/proc/$SPID/status")" "$(awk '/^VmHWM/ {print $2}' "/proc/$SPID/status")"
done
wait "$SIPP"; SIPP=""
python3 - "$RUN/stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
col = {n: i for i, n in enumerate(rows[0])}
last = rows[-1]
print("calls: %s successful, %s failed" % (last[col["SuccessfulCall(C)"]], last[col["FailedCall(C)"]]))
PY

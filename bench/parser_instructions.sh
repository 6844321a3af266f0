#!/bin/bash
# Instructions executed per message by each parser, counted by valgrind's callgrind: a figure that,
# unlike time, does not move when another process shares the machine. parser_bench's allocation
# probe runs each operation 101 times (1 warm-up + 100); the inclusive instruction count of
# probe<Op> divided by 101 is the cost of one message, allocator included.
#
#   bench/parser_instructions.sh [build/bench/parser_bench]    (needs valgrind)
set -euo pipefail
bin=${1:-build/bench/parser_bench}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ops="SipwardenParse SipwardenParseFresh OsipParse SofiaParse SipwardenParseSerialize SipwardenParseSerializeFresh OsipParseSerialize SofiaParseSerialize"
printf '| message | parse: sipwarden | sipwarden_fresh | osip2 | sofia | parse+serialize: sipwarden | sipwarden_fresh | osip2 | sofia |\n|---|'
for op in $ops; do printf -- '---:|'; done; printf '\n'
for m in register_digest 200_register_3_contacts invite_sdp message; do
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" --benchmark_filter='^$' --messages="$m" \
    >/dev/null 2>&1
  callgrind_annotate --inclusive=yes "$tmp/cg" >"$tmp/ann" 2>/dev/null
  printf '| %s |' "$m"
  for op in $ops; do
    ir=$(grep -F "probe<sipwarden::bench::(anonymous namespace)::$op>" "$tmp/ann" | head -1 | awk '{gsub(",", "", $1); print $1}')
    printf ' %s |' "$(( ${ir:-0} / 101 ))"
  done
  printf '\n'
done

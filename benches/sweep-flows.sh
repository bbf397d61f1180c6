#!/usr/bin/env bash
# Usage: benches/sweep-flows.sh [-F "1 10 100 1000 10000 100000"] [-t SECS] [-r REPS] [-s FRAME]
#                               [-o OUT.jsonl] [--keep-state] SWITCH...
#   Packets/s against the number of flows: for each SWITCH (syntax: see benches/harness-lib.sh;
#   e.g. ovs:tap:flows ovs:veth:flows linuxbridge vswitch) a fresh pair of namespaces, then for
#   each flow count N one trafgen in ns1 sending FRAME-byte (default 64 with FCS = 60 on the
#   wire buffer) UDP frames as fast as it can over N distinct 5-tuples (source ports
#   10000..10000+N-1; above 50,000 flows source x destination ports with coprime counts), and
#   the received rate = delta rx_packets of ns2's interface over SECS seconds after 1 s warm-up.
#   -r REPS repeats the whole list REPS times (interleaved switches).
#   Output: one JSON line per measurement appended to OUT (default
#   benches/results/sweep-flows.jsonl): {"bench":"sweep-flows","switch":..,"flows":..,
#   "frame":64,"rx_pps":..,"tx_pps":..,"rep":..,"commit":..,"date":..,"switch_stats":{..}}.
#   Default run (3 switches, 6 flow counts, 5 s): about 3 minutes.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=harness-lib.sh
source "$HERE/harness-lib.sh"
FLOWS="1 10 100 1000 10000 100000"; SECS=5; REPS=1; FRAME=64; OUT=$HERE/results/sweep-flows.jsonl
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
    case $1 in
        -F) FLOWS=$2; shift 2 ;;
        -t) SECS=$2; shift 2 ;;
        -r) REPS=$2; shift 2 ;;
        -s) FRAME=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        --keep-state) HL_KEEP_STATE=1; shift ;;
        -h | --help | -*) usage ;;
        *) break ;;
    esac
done
(($#)) || usage
hl_require
for n in $FLOWS; do hl_flow_split "$n" >/dev/null || exit 2; done
mkdir -p "$(dirname "$OUT")"
hl_init
COMMIT=$(hl_commit)
run=0
for rep in $(seq "$REPS"); do
    for spec in "$@"; do
        run=$((run + 1))
        hl_log "=== $spec (rep $rep/$REPS)"
        if ! hl_setup "$spec" "$run"; then
            hl_log "  setup FAILED for $spec"
            hl_emit_error "$OUT" sweep-flows "$spec" "setup failed"
            hl_teardown
            continue
        fi
        for n in $FLOWS; do
            r=$(hl_udp_max $((FRAME - 4)) "$n" "$SECS") || { hl_log "  flows=$n FAILED"; continue; }
            line=$(hl_json_merge "$r" bench='"sweep-flows"' switch="$(hl_jstr "$spec")" flows="$n" \
                frame="$FRAME" port_mode="\"$HL_MODE\"" rep="$rep" commit="\"$COMMIT\"" date="\"$(hl_date)\"")
            echo "$line" >>"$OUT"
            hl_log "  flows=$n: $($PY -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["rx_pps"], "pps rx /", j["tx_pps"], "pps tx")' "$r")"
        done
        hl_teardown
    done
done
hl_log "results appended to $OUT"

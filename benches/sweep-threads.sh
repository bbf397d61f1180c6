#!/usr/bin/env bash
# Usage: benches/sweep-threads.sh [-T "1 2"] [-F FLOWS] [-t SECS] [-r REPS] [-s FRAME]
#                                 [-o OUT.jsonl] [--keep-state] [SWITCH...]
#   Packets/s against the number of datapath threads (default 1..nproc). Each (SWITCH, threads)
#   pair gets a freshly started switch and fresh namespaces (thread counts are start-up
#   configuration), then FRAME-byte (default 64) UDP at full trafgen speed over FLOWS distinct
#   flows (default 100, so that a multi-queue switch can spread them), SECS (default 5) s.
#   How the thread count reaches each switch:
#     vswitch[:tap|:veth]   VSWITCH_PMD_THREADS=N (benches/netns-driver.sh -> vswitchd --pmd-threads)
#     ovs:...               OVS_PMD_THREADS=N via benches/ovs-pmd-driver.sh (pmd-cpu-mask); the
#                           veth queues and OVS_N_RXQ are set to N. Only PMD-polled ports (ovs:afxdp)
#                           use PMD threads; system/tap ports are served by OVS's main thread, so
#                           ovs:tap / ovs:veth are a flat control line.
#     others                receive nothing (flat baseline).
#   Default SWITCH list: ovs:afxdp:flows ovs:tap:flows. Note: PMD threads busy-poll a whole CPU each.
#   Output: one JSON line per measurement appended to OUT (default
#   benches/results/sweep-threads.jsonl): {"bench":"sweep-threads","switch":..,"threads":N,
#   "flows":..,"rx_pps":..,"tx_pps":..,"commit":..,"date":..,"switch_stats":{..}}.
#   Default run (2 switches x 2 thread counts): about 1 minute.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=harness-lib.sh
source "$HERE/harness-lib.sh"
THREADS=$(seq -s ' ' 1 "$(nproc)"); FLOWS=100; SECS=5; REPS=1; FRAME=64
OUT=$HERE/results/sweep-threads.jsonl
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
    case $1 in
        -T) THREADS=$2; shift 2 ;;
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
(($#)) || set -- ovs:afxdp:flows ovs:tap:flows
hl_require
hl_flow_split "$FLOWS" >/dev/null || exit 2
mkdir -p "$(dirname "$OUT")"
hl_init
COMMIT=$(hl_commit)
run=0
for rep in $(seq "$REPS"); do
    for spec in "$@"; do
        for n in $THREADS; do
            run=$((run + 1))
            export VSWITCH_PMD_THREADS=$n OVS_PMD_THREADS=$n OVS_N_RXQ=$n HL_VETH_QUEUES=$n
            hl_log "=== $spec threads=$n (rep $rep/$REPS)"
            if ! hl_setup "$spec" "$run"; then
                hl_log "  setup FAILED for $spec threads=$n"
                hl_emit_error "$OUT" sweep-threads "$spec" "setup failed" threads="$n"
                hl_teardown
                continue
            fi
            if r=$(hl_udp_max $((FRAME - 4)) "$FLOWS" "$SECS"); then
                line=$(hl_json_merge "$r" bench='"sweep-threads"' switch="$(hl_jstr "$spec")" threads="$n" \
                    flows="$FLOWS" frame="$FRAME" port_mode="\"$HL_MODE\"" rep="$rep" \
                    commit="\"$COMMIT\"" date="\"$(hl_date)\"")
                echo "$line" >>"$OUT"
                hl_log "  threads=$n: $($PY -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["rx_pps"], "pps rx /", j["tx_pps"], "pps tx; pmd threads polling:", j["switch_stats"].get("pmd_threads", "-"))' "$r")"
            else
                hl_log "  threads=$n FAILED"
            fi
            hl_teardown
        done
    done
done
hl_log "results appended to $OUT"

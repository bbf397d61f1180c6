#!/usr/bin/env bash
# Usage: benches/netns-driver.sh up|down|stats|stats-clear IF1 IF2
#   vswitch driver for ../shared/bench/ovs-netns-bench.sh (same interface as its switches/ovs.sh).
#   up: starts a private vswitchd (db and socket under $BENCH_STATE/vswitch), creates bridge
#       brbench with IF1 as OpenFlow port 1 and IF2 as port 2 — TAP ports the switch creates, or,
#       with BENCH_PORT_MODE=veth, existing interfaces attached as `system` (AF_PACKET) ports — and
#       loads the flow table $BENCH_FLOWS (default ../shared/bench/examples/bench.flows) atomically.
#   down: stops that vswitchd (SIGTERM, then SIGKILL) and removes its state.
#   stats: prints `vswitch-ctl --format json datapath-stats` (one JSON object).
#   stats-clear: resets the datapath counters.
#   Env: BENCH_STATE (required), BENCH_PORT_MODE=tap|veth, BENCH_FLOWS, VSWITCH_BIN (directory of
#   vswitchd and vswitch-ctl; default target/release of this repo, built if missing),
#   VSWITCH_PMD_THREADS (default: vswitchd's own default), VSWITCH_TAP_IO (syscall|io_uring;
#   default: vswitchd's own).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cmd=${1:?usage: netns-driver.sh up|down|stats|stats-clear IF1 IF2}
IF1=${2:-}; IF2=${3:-}
: "${BENCH_STATE:?BENCH_STATE must be set}"
ST=$BENCH_STATE/vswitch
BIN=${VSWITCH_BIN:-$ROOT/target/release}
SOCK=$ST/vswitchd.sock
BR=brbench
ctl() { "$BIN/vswitch-ctl" --server "unix:$SOCK" "$@"; }

case $cmd in
up)
    mkdir -p "$ST"
    rm -f "$ST/conf.db" "$SOCK"
    if [[ ! -x $BIN/vswitchd || ! -x $BIN/vswitch-ctl ]]; then
        (cd "$ROOT" && cargo build --release -p vswitchd -p ctl >&2)
    fi
    pmd=()
    [[ -n ${VSWITCH_PMD_THREADS:-} ]] && pmd=(--pmd-threads "$VSWITCH_PMD_THREADS")
    [[ -n ${VSWITCH_TAP_IO:-} ]] && pmd+=(--tap-io "$VSWITCH_TAP_IO")
    "$BIN/vswitchd" --db "$ST/conf.db" --listen "unix:$SOCK" --log warn "${pmd[@]}" \
        >"$ST/vswitchd.log" 2>&1 &
    echo $! >"$ST/vswitchd.pid"
    for _ in $(seq 100); do
        ctl list-br >/dev/null 2>&1 && break
        sleep 0.05
    done
    ctl list-br >/dev/null
    type=tap
    [[ ${BENCH_PORT_MODE:-tap} == veth ]] && type=system
    ctl add-br $BR
    ctl add-port $BR "$IF1" --type $type --ofport 1
    ctl add-port $BR "$IF2" --type $type --ofport 2
    flows=${BENCH_FLOWS:-$ROOT/../shared/bench/examples/bench.flows}
    grep -vE '^\s*(#|$)' "$flows" | ctl replace-flows $BR -
    ;;
down)
    if [[ -f $ST/vswitchd.pid ]]; then
        pid=$(cat "$ST/vswitchd.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$ST/vswitchd.pid"
    fi
    rm -rf "$ST"
    ;;
stats)
    ctl --format json datapath-stats
    ;;
stats-clear)
    ctl datapath-stats --clear >/dev/null
    ;;
*)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac

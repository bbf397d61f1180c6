#!/usr/bin/env bash
# Usage: benches/ovs-pmd-driver.sh up|down|stats|stats-clear IF1 IF2
#   Wrapper around ../shared/bench/switches/ovs.sh (same interface, same env: BENCH_STATE,
#   BENCH_PORT_MODE, OVS_TABLE, OVS_OPTS) that also controls OVS's datapath threads:
#     OVS_PMD_THREADS=N   other_config:pmd-cpu-mask = CPUs 0..N-1 (one PMD thread per CPU),
#                         set before the ports are added
#     OVS_PORT_TYPE=afxdp the two (veth) ports are re-typed from `system` to `afxdp`
#                         (xdp-mode=generic), which OVS polls from PMD threads; `system` and
#                         `tap` ports are "non-PMD" netdevs that OVS serves from its main thread
#                         whatever the mask says
#     OVS_N_RXQ=Q         options:n_rxq for afxdp ports (default: 1)
#   'stats' = ovs.sh stats plus "pmd_threads" (PMD threads that poll at least one rx queue).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
if [[ -n ${BENCH_SHARED:-} ]]; then SHARED=$BENCH_SHARED
elif [[ -d $ROOT/../shared/bench ]]; then SHARED=$(cd "$ROOT/../shared/bench" && pwd)
else SHARED=/work/shared/bench; fi
cmd=${1:?usage: ovs-pmd-driver.sh up|down|stats|stats-clear IF1 IF2}
IF1=${2:-}; IF2=${3:-}
: "${BENCH_STATE:?BENCH_STATE must be set}"
SB=$BENCH_STATE/ovs-sandbox
eval "$("$SHARED/ovs-sandbox.sh" env "$SB")"

pmd_threads() {   # PMD threads with at least one rx queue assigned
    ovs-appctl dpif-netdev/pmd-rxq-show 2>/dev/null | awk '
        /^pmd thread/ { if (t && q) n++; t = 1; q = 0; next }
        /port:/ { q = 1 }
        END { if (t && q) n++; print n + 0 }'
}

case $cmd in
up)
    # ovs.sh's own `start` finds this sandbox running and keeps it.
    "$SHARED/ovs-sandbox.sh" start "$SB" >&2
    if [[ -n ${OVS_PMD_THREADS:-} ]]; then
        ((OVS_PMD_THREADS >= 1 && OVS_PMD_THREADS <= $(nproc))) ||
            { echo "OVS_PMD_THREADS must be 1..$(nproc)" >&2; exit 2; }
        ovs-vsctl set Open_vSwitch . other_config:pmd-cpu-mask="$(printf '0x%x' $(((1 << OVS_PMD_THREADS) - 1)))"
    fi
    "$SHARED/switches/ovs.sh" up "$IF1" "$IF2"
    if [[ ${OVS_PORT_TYPE:-} == afxdp ]]; then
        [[ ${BENCH_PORT_MODE:-veth} == veth ]] || { echo "afxdp needs veth ports" >&2; exit 2; }
        for i in "$IF1" "$IF2"; do
            ovs-vsctl set interface "$i" type=afxdp options:xdp-mode=generic \
                options:n_rxq="${OVS_N_RXQ:-1}"
        done
    elif [[ -n ${OVS_PORT_TYPE:-} && ${OVS_PORT_TYPE} != system && ${OVS_PORT_TYPE} != tap ]]; then
        echo "OVS_PORT_TYPE must be afxdp|system|tap" >&2; exit 2
    fi
    for _ in $(seq 100); do   # both ports back with their OpenFlow numbers and no error
        [[ $(ovs-vsctl get interface "$IF1" ofport) == 1 && $(ovs-vsctl get interface "$IF2" ofport) == 2 ]] &&
            [[ $(ovs-vsctl get interface "$IF1" error 2>/dev/null || true) != \"* ]] && break
        sleep 0.1
    done
    err=$(ovs-vsctl get interface "$IF1" error 2>/dev/null || true)
    [[ $err != \"* ]] || { echo "port $IF1: $err" >&2; exit 1; }
    echo "pmd threads polling: $(pmd_threads)" >&2
    ;;
down | stats-clear)
    "$SHARED/switches/ovs.sh" "$cmd" "$IF1" "$IF2"
    ;;
stats)
    s=$("$SHARED/switches/ovs.sh" stats "$IF1" "$IF2")
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["pmd_threads"]=int(sys.argv[2]); print(json.dumps(d))' \
        "$s" "$(pmd_threads)"
    ;;
*)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac

# shellcheck shell=bash
# benches/harness-lib.sh — sourced by rfc2544.sh, sweep-flows.sh and sweep-threads.sh.
#
# What: the namespace/switch plumbing of ../shared/bench/ovs-netns-bench.sh, re-done so that
# several engineers can benchmark on one machine at once: every run gets namespaces, veth/tap
# names, a Linux bridge name and a scratch directory derived from its PID, and everything is
# removed again by an EXIT trap (also on Ctrl-C, TERM or a failed command).
#
# SWITCH syntax (same as ovs-netns-bench.sh, plus two shorthands):
#   ovs[:veth|:tap|:afxdp][:normal|:flows][:smc][:noemc]   OVS userspace datapath via
#       ../shared/bench/switches/ovs.sh (afxdp = veth ports re-typed to AF_XDP, PMD-polled,
#       through benches/ovs-pmd-driver.sh, which is also used whenever OVS_PMD_THREADS is set)
#   linuxbridge                    the kernel bridge (../shared/bench/switches/linuxbridge.sh)
#   custom:CMD / custom-tap:CMD    any driver with the ovs.sh interface (veth / TAP ports)
#   vswitch[:tap|:veth]            our switch = custom-tap:/custom:benches/netns-driver.sh
#   Any SWITCH may end in @offload / @nooffload (tx checksum offload on the namespace veths;
#   default on for linuxbridge, off otherwise — as in the shared harness).
#
# Invariants: traffic only ever flows between the two namespaces created here; the root-side
# interfaces are enslaved to the switch under test and carry no addresses.

HL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HL_ROOT=$(cd "$HL_HERE/.." && pwd)
if [[ -n ${BENCH_SHARED:-} ]]; then
    HL_SHARED=$BENCH_SHARED
elif [[ -d $HL_ROOT/../shared/bench ]]; then
    HL_SHARED=$(cd "$HL_ROOT/../shared/bench" && pwd)
else
    HL_SHARED=/work/shared/bench
fi
PY=/usr/bin/python3
HL_ID=$(($$ % 100000))
NS1=pb${HL_ID}-ns1
NS2=pb${HL_ID}-ns2
IP1=10.200.0.1
IP2=10.200.0.2
HL_IFA=pb${HL_ID}a
HL_IFB=pb${HL_ID}b
export LB_NAME=pb${HL_ID}br
# The example flow table lives in shared/; our driver's own default path assumes /work/main.
export BENCH_FLOWS=${BENCH_FLOWS:-$HL_SHARED/examples/bench.flows}
HL_STATE_ROOT=""
HL_KEEP_STATE=0
HL_BG_PIDS=()
HL_DRIVER=()
HL_IFS=()
HL_VETH_QUEUES=${HL_VETH_QUEUES:-1}

hl_log() { echo "[$(date +%T)] $*" >&2; }
hl_commit() { git -C "$HL_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown; }
hl_date() { date -Is; }

hl_require() {
    [[ $(id -u) == 0 ]] || { echo "need root" >&2; exit 1; }
    local b
    for b in trafgen ethtool ping tc ip git; do
        command -v $b >/dev/null || { echo "missing $b (run $HL_SHARED/install.sh)" >&2; exit 1; }
    done
    [[ -x $PY ]] || { echo "missing $PY" >&2; exit 1; }
}

# Scratch directory for driver state (OVS sandboxes, logs, trafgen configs); removed on exit.
hl_init() {
    HL_STATE_ROOT=$(mktemp -d "/tmp/vswitch-bench.$HL_ID.XXXXXX")
    trap 'hl_teardown; hl_cleanup_state' EXIT
    trap 'exit 130' INT TERM
}

hl_cleanup_state() {
    if ((HL_KEEP_STATE)); then
        hl_log "state kept in $HL_STATE_ROOT"
    elif [[ -n $HL_STATE_ROOT ]]; then
        rm -rf "$HL_STATE_ROOT"
    fi
}

hl_kill_bg() {
    local p
    for p in "${HL_BG_PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done
    for p in "${HL_BG_PIDS[@]:-}"; do [[ -n $p ]] && wait "$p" 2>/dev/null; done
    HL_BG_PIDS=()
}

hl_teardown() {
    hl_kill_bg
    if ((${#HL_DRIVER[@]})); then
        "${HL_DRIVER[@]}" down "${HL_IFS[@]}" >>"$BENCH_STATE/driver-down.log" 2>&1 || true
        HL_DRIVER=()
    fi
    ip netns del "$NS1" 2>/dev/null
    ip netns del "$NS2" 2>/dev/null
    ip link del "$HL_IFA" 2>/dev/null
    ip link del "$HL_IFB" 2>/dev/null
    true
}

# hl_setup SPEC RUN_ID: parses SPEC, starts the switch, builds the namespaces.
# Sets HL_DRIVER, HL_IFS, HL_MODE (veth|tap), HL_OFFLOAD (on|off).
hl_setup() {
    local spec=$1 o opts
    HL_OFFLOAD=""
    case $spec in
        *@offload) HL_OFFLOAD=on; spec=${spec%@offload} ;;
        *@nooffload) HL_OFFLOAD=off; spec=${spec%@nooffload} ;;
    esac
    HL_MODE=veth
    export BENCH_STATE=$HL_STATE_ROOT/state-$2
    mkdir -p "$BENCH_STATE"
    unset OVS_PORT_TYPE
    case $spec in
        ovs|ovs:*)
            export OVS_TABLE=normal OVS_OPTS=""
            local ovs_driver=$HL_SHARED/switches/ovs.sh
            IFS=: read -r -a opts <<<"${spec#ovs}"
            for o in "${opts[@]}"; do
                case $o in
                    "") ;;
                    veth | tap) HL_MODE=$o ;;
                    afxdp) HL_MODE=veth; export OVS_PORT_TYPE=afxdp ;;
                    normal | flows) OVS_TABLE=$o ;;
                    smc | noemc) OVS_OPTS="$OVS_OPTS $o" ;;
                    *) hl_log "unknown ovs option '$o'"; return 1 ;;
                esac
            done
            if [[ -n ${OVS_PORT_TYPE:-} || -n ${OVS_PMD_THREADS:-} ]]; then
                ovs_driver=$HL_HERE/ovs-pmd-driver.sh
            fi
            HL_DRIVER=("$ovs_driver")
            HL_OFFLOAD=${HL_OFFLOAD:-off}
            ;;
        linuxbridge) HL_DRIVER=("$HL_SHARED/switches/linuxbridge.sh"); HL_OFFLOAD=${HL_OFFLOAD:-on} ;;
        vswitch | vswitch:tap) HL_DRIVER=("$HL_HERE/netns-driver.sh"); HL_MODE=tap; HL_OFFLOAD=${HL_OFFLOAD:-off} ;;
        vswitch:veth) HL_DRIVER=("$HL_HERE/netns-driver.sh"); HL_OFFLOAD=${HL_OFFLOAD:-off} ;;
        custom:*) HL_DRIVER=(bash -c "${spec#custom:} \"\$@\"" custom); HL_OFFLOAD=${HL_OFFLOAD:-off} ;;
        custom-tap:*) HL_DRIVER=(bash -c "${spec#custom-tap:} \"\$@\"" custom); HL_MODE=tap; HL_OFFLOAD=${HL_OFFLOAD:-off} ;;
        *) hl_log "unknown switch '$spec'"; return 1 ;;
    esac
    export BENCH_PORT_MODE=$HL_MODE
    ip netns add "$NS1" || return 1
    ip netns add "$NS2" || return 1
    HL_IFS=("$HL_IFA" "$HL_IFB")
    if [[ $HL_MODE == veth ]]; then
        local q=(numtxqueues "$HL_VETH_QUEUES" numrxqueues "$HL_VETH_QUEUES")
        ip link add "$HL_IFA" "${q[@]}" type veth peer name eth0 "${q[@]}" netns "$NS1" || return 1
        ip link add "$HL_IFB" "${q[@]}" type veth peer name eth0 "${q[@]}" netns "$NS2" || return 1
        ip link set "$HL_IFA" up
        ip link set "$HL_IFB" up
        "${HL_DRIVER[@]}" up "${HL_IFS[@]}" >"$BENCH_STATE/driver-up.log" 2>&1 ||
            { cat "$BENCH_STATE/driver-up.log" >&2; return 1; }
    else
        "${HL_DRIVER[@]}" up "${HL_IFS[@]}" >"$BENCH_STATE/driver-up.log" 2>&1 ||
            { cat "$BENCH_STATE/driver-up.log" >&2; return 1; }
        local i
        for i in $(seq 50); do
            ip link show "$HL_IFA" >/dev/null 2>&1 && ip link show "$HL_IFB" >/dev/null 2>&1 && break
            sleep 0.1
        done
        ip link set "$HL_IFA" netns "$NS1" name eth0 || return 1
        ip link set "$HL_IFB" netns "$NS2" name eth0 || return 1
    fi
    local ns ip
    for ns in "$NS1" "$NS2"; do
        [[ $ns == "$NS1" ]] && ip=$IP1 || ip=$IP2
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add $ip/24 dev eth0
        ip -n "$ns" link set eth0 up
        if [[ $HL_MODE == veth && $HL_OFFLOAD == off ]]; then
            ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null 2>&1
        fi
    done
    # Connectivity (and MAC learning / ARP); a second chance for switches that learn slowly.
    ip netns exec "$NS1" ping -c 3 -i 0.2 -W 1 -q $IP2 >/dev/null 2>&1 ||
        ip netns exec "$NS1" ping -c 3 -i 0.2 -W 1 -q $IP2 >/dev/null 2>&1 ||
        { hl_log "no connectivity through $1"; return 1; }
    return 0
}

hl_cnt() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }
hl_now() { date +%s.%N; }

hl_driver_stats() {
    local s
    s=$("${HL_DRIVER[@]}" stats "${HL_IFS[@]}" 2>/dev/null) || s=""
    $PY -c 'import json,sys
try: print(json.dumps(json.loads(sys.argv[1])))
except Exception: print("{}")' "$s"
}
hl_driver_stats_clear() { "${HL_DRIVER[@]}" stats-clear "${HL_IFS[@]}" >/dev/null 2>&1 || true; }

# hl_flow_split N -> "A B": N distinct UDP flows as A source ports x B destination ports with
# gcd(A, B) = 1, so that two independent trafgen counters (periods A and B) walk all A*B pairs
# (Chinese remainder theorem). A 16-bit port alone cannot hold 100,000 flows.
hl_flow_split() {
    $PY - "$1" <<'EOF'
import math, sys
n = int(sys.argv[1])
if n < 1: sys.exit("flow count must be >= 1")
if n <= 50000: print(n, 1); sys.exit()
for b in range(2, 1025):
    if n % b == 0 and math.gcd(n // b, b) == 1 and n // b <= 50000:
        print(n // b, b); sys.exit()
sys.exit("cannot split %d flows into coprime source x destination port counts" % n)
EOF
}

# hl_trafgen_cfg FILE FRAME FLOWS: UDP frames of FRAME bytes (without FCS) ns1 -> ns2 over FLOWS
# distinct 5-tuples. Sets HL_DPORTS (destination ports the sink must bind).
hl_trafgen_cfg() {
    local file=$1 frame=$2 flows=$3 a b sp dp mac1 mac2 fill
    read -r a b < <(hl_flow_split "$flows") || return 1
    [[ -n $a ]] || return 1
    fill=$((frame - 14 - 20 - 8))
    ((fill >= 0)) || { hl_log "frame $frame too small"; return 1; }
    if ((a == 1)); then sp=10000; else sp="dinc(10000, $((10000 + a - 1)))"; fi
    if ((b == 1)); then
        dp=9; HL_DPORTS=9
    else
        dp="dinc(20000, $((20000 + b - 1)))"; HL_DPORTS=$(seq -s ' ' 20000 $((20000 + b - 1)))
    fi
    mac1=$(ip netns exec "$NS1" cat /sys/class/net/eth0/address)
    mac2=$(ip netns exec "$NS2" cat /sys/class/net/eth0/address)
    cat >"$file" <<EOF
{
  eth(da=$mac2, sa=$mac1),
  ipv4(sa=$IP1, da=$IP2, ttl=64),
  udp(sp=$sp, dp=$dp),
  fill(0x00, $fill)
}
EOF
}

# A sink in ns2: bound UDP sockets that are never read, so the kernel drops silently once the
# buffer is full and sends no ICMP port-unreachable back through the switch.
hl_sink_start() {
    ip netns exec "$NS2" $PY -c '
import signal, socket, sys
socks = []
for p in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(p))); socks.append(s)
signal.pause()' "$IP2" $HL_DPORTS >/dev/null 2>&1 &
    HL_BG_PIDS+=("$!")
    sleep 0.3
}

# hl_udp_max FRAME FLOWS SECS: trafgen at full speed (TX ring, no pacing) for SECS after 1 s of
# warm-up; prints one JSON object {rx_pps, tx_pps, secs, ns2_rx_dropped_pps, switch_stats}.
hl_udp_max() {
    local frame=$1 flows=$2 secs=$3 cfg=$BENCH_STATE/trafgen-max.cfg tg
    hl_trafgen_cfg "$cfg" "$frame" "$flows" || return 1
    hl_sink_start
    hl_driver_stats_clear
    timeout -s INT $((secs + 3)) ip netns exec "$NS1" trafgen -o eth0 -i "$cfg" -P 1 --no-sock-mem -Q -C \
        >"$BENCH_STATE/trafgen-max.log" 2>&1 &
    tg=$!
    HL_BG_PIDS+=("$tg")
    sleep 1
    local r0 s0 d0 t0 r1 s1 d1 t1 st
    r0=$(hl_cnt "$NS2" rx_packets); s0=$(hl_cnt "$NS1" tx_packets); d0=$(hl_cnt "$NS2" rx_dropped); t0=$(hl_now)
    sleep "$secs"
    r1=$(hl_cnt "$NS2" rx_packets); s1=$(hl_cnt "$NS1" tx_packets); d1=$(hl_cnt "$NS2" rx_dropped); t1=$(hl_now)
    kill -INT "$tg" 2>/dev/null
    st=$(hl_driver_stats)
    hl_kill_bg
    $PY -c '
import json, sys
r0, r1, s0, s1, d0, d1 = map(int, sys.argv[1:7]); t0, t1 = map(float, sys.argv[7:9])
dt = t1 - t0
print(json.dumps({"rx_pps": round((r1 - r0) / dt), "tx_pps": round((s1 - s0) / dt),
                  "ns2_rx_dropped_pps": round((d1 - d0) / dt), "secs": round(dt, 2),
                  "switch_stats": json.loads(sys.argv[9])}))' \
        "$r0" "$r1" "$s0" "$s1" "$d0" "$d1" "$t0" "$t1" "$st"
}

# hl_json_merge JSON key=value...: adds fields (values are JSON literals) in front of JSON.
hl_json_merge() {
    $PY -c '
import json, sys
d = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1); d[k] = json.loads(v)
d.update(json.loads(sys.argv[1])); print(json.dumps(d))' "$@"
}
hl_jstr() { $PY -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# hl_emit_error OUT BENCH SPEC MESSAGE [key=json...]: records a failed setup/measurement so a
# missing row in the results is explained in the file itself.
hl_emit_error() {
    local out=$1 bench=$2 spec=$3 msg=$4
    shift 4
    hl_json_merge "{}" bench="\"$bench\"" switch="$(hl_jstr "$spec")" "$@" error="$(hl_jstr "$msg")" \
        commit="\"$(hl_commit)\"" date="\"$(hl_date)\"" >>"$out"
}

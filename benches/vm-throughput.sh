#!/usr/bin/env bash
# Usage: benches/vm-throughput.sh [-r REPS] [-m MB] [-o OUT.jsonl] [--keep-state] [SWITCH...]
#   TCP throughput between a real VM (QEMU guest, virtio-net on a host tap, ../shared/vm) and a
#   network namespace, through each SWITCH in turn, in one run. The guest has no iperf3: it
#   pushes MB megabytes from its tmpfs with busybox nc to the peer, then pulls MB megabytes
#   from it, REPS times (one boot per SWITCH). A python3 program in the peer namespace times
#   each transfer with the host clock (first byte to EOF going up; accept to the guest's close
#   coming down, so data still in socket buffers is not counted as delivered).
#   SWITCH (default: vswitch@offload vswitch@nooffload ovs@nooffload ovs@offload linuxbridge):
#     vswitch       our switch: benches/netns-driver.sh, tap and veth as `system` ports,
#                   flow table `actions=normal` (VSWITCH_BIN: directory of the binaries)
#     ovs           OVS userspace datapath (../shared/bench/switches/ovs.sh, system ports, NORMAL)
#     linuxbridge   the kernel bridge (../shared/bench/switches/linuxbridge.sh)
#     @offload      (default) QEMU's default offloads (tap vnet_hdr: guest TSO + partial
#                   checksums) and tx offloads on the peer veth
#     @nooffload    tap with vnet_hdr=off and tx offloads off on the peer veth
#   Output: JSON lines appended to OUT (default benches/results/vm-throughput.jsonl):
#   {"bench":"vm-throughput","switch":..,"direction":"guest-to-peer"|"peer-to-guest","bytes":..,
#    "secs":..,"mbit_s":..,"rep":..,"accel":..,"loadavg":..,"commit":..,"date":..,
#    "switch_stats":{..}} (the driver's `stats` after the guest finished); a transfer
#   that fails leaves a line with "error". A table of medians goes to stdout.
#   Names carry the PID (tap vmbPIDt, netns vmbPID-ns, veth vmbPIDh/p); an EXIT trap stops the
#   VM (by pidfile), the switch and the peer, and deletes them. Needs root, ../shared/vm
#   (install.sh) and ../shared/bench (install.sh). Default run: about 3-5 minutes (TCG).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
find_shared() {   # $1 = vm|bench: $VSWITCH_SHARED/$1, else the first ancestor's shared/$1
    local d=$ROOT
    if [[ -n ${VSWITCH_SHARED:-} ]]; then echo "$VSWITCH_SHARED/$1"; return; fi
    while [[ $d != / ]]; do
        [[ -d $d/shared/$1 ]] && { echo "$d/shared/$1"; return; }
        d=$(dirname "$d")
    done
    return 1
}
VMDIR=$(find_shared vm) || { echo "vm-throughput: ../shared/vm not found" >&2; exit 1; }
BENCH=$(find_shared bench) || { echo "vm-throughput: ../shared/bench not found" >&2; exit 1; }
PY=/usr/bin/python3
REPS=3 MB=16 OUT=$HERE/results/vm-throughput.jsonl KEEP=0
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
    case $1 in
        -r) REPS=$2; shift 2 ;;
        -m) MB=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        --keep-state) KEEP=1; shift ;;
        -h | --help | -*) usage ;;
        *) break ;;
    esac
done
SWITCHES=("$@")
((${#SWITCHES[@]})) || SWITCHES=(vswitch@offload vswitch@nooffload ovs@nooffload ovs@offload linuxbridge)
[[ $(id -u) == 0 ]] || { echo "vm-throughput: needs root" >&2; exit 1; }
[[ $REPS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ ]] || usage
((MB <= 96)) || { echo "vm-throughput: -m at most 96 (the guest's tmpfs holds the data)" >&2; exit 2; }

ID=$(($$ % 100000))
TAP=vmb${ID}t NS=vmb${ID}-ns VH=vmb${ID}h VP=vmb${ID}p
GUEST_IP=10.56.0.10 PEER_IP=10.56.0.1 GUEST_MAC=52:54:00:56:00:10
STATE=$(mktemp -d "/tmp/vm-throughput.$ID.XXXXXX")
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE=$(date -Is)
BYTES=$((MB * 1048576))
mkdir -p "$(dirname "$OUT")"
log() { echo "[$(date +%T)] $*" >&2; }

DRIVER=() DRIVER_UP=0 PEER_PID=
teardown() {
    "$VMDIR/stop-vm.sh" "$STATE/vm.pid"
    if ((DRIVER_UP)); then
        BENCH_STATE=$STATE/switch BENCH_PORT_MODE=veth "${DRIVER[@]}" down "$TAP" "$VH" >/dev/null 2>&1
        DRIVER_UP=0
    fi
    [[ -n $PEER_PID ]] && { kill "$PEER_PID" 2>/dev/null; wait "$PEER_PID" 2>/dev/null; PEER_PID=; }
    ip netns del "$NS" 2>/dev/null
    ip link del "$VH" 2>/dev/null
    ip link del "$TAP" 2>/dev/null   # only if a persistent tap was left (QEMU's goes with it)
}
cleanup() {
    teardown
    if ((KEEP)); then log "state kept in $STATE"; else rm -rf "$STATE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The peer: up-going transfers are received on 7001 (timed first byte -> EOF), down-going
# ones are sent from 7002 (timed accept -> the guest's close after it read everything).
PEER_PY='
import json, socket, sys, time
reps, nbytes = int(sys.argv[1]), int(sys.argv[2])
def listener(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(4); s.settimeout(120); return s
up, down = listener(7001), listener(7002)
chunk = bytes(range(256)) * 256
def emit(d, **kw):
    print(json.dumps(dict(direction=d, **kw)), flush=True)
for rep in range(1, reps + 1):
    try:
        c, _ = up.accept(); c.settimeout(60); n = 0; t0 = None
        while True:
            b = c.recv(1 << 16)
            if not b: break
            if t0 is None: t0 = time.monotonic()
            n += len(b)
        t1 = time.monotonic(); c.close()
        if n == nbytes: emit("guest-to-peer", rep=rep, bytes=n, secs=round(t1 - t0, 4))
        else: emit("guest-to-peer", rep=rep, bytes=n, error="short transfer")
    except Exception as e:
        emit("guest-to-peer", rep=rep, error=str(e))
    try:
        c, _ = down.accept(); c.settimeout(60); t0 = time.monotonic(); left = nbytes
        while left:
            left -= c.send(chunk[:min(left, len(chunk))])
        c.shutdown(socket.SHUT_WR)
        while c.recv(1 << 16): pass
        t1 = time.monotonic(); c.close()
        emit("peer-to-guest", rep=rep, bytes=nbytes, secs=round(t1 - t0, 4))
    except Exception as e:
        emit("peer-to-guest", rep=rep, error=str(e))
'

# The guest: make the data once, then REPS rounds of push + pull; it stops at the first
# transfer that fails (a switch that corrupts checksums would otherwise cost minutes of
# timeouts). `< /dev/console` keeps nc reading (nothing ever arrives there) so it ends on the
# peer's close, not on its own EOF.
guest_cmd() {
    cat <<EOS
dd if=/dev/urandom of=/tmp/up bs=1048576 count=$MB 2>/dev/null
for i in \$(seq $REPS); do
  vm-retry 10 timeout 60 nc $PEER_IP 7001 < /tmp/up || { echo "push \$i failed"; exit 1; }
  sleep 0.3
  vm-retry 10 timeout 60 sh -c 'nc $PEER_IP 7002 < /dev/console | wc -c' || { echo "pull \$i failed"; exit 1; }
  sleep 0.3
done
EOS
}

run_switch() {
    local spec=$1 name=${1%@*} offload=on
    [[ $spec == *@nooffload ]] && offload=off
    case $name in
        vswitch)
            printf 'actions=normal\n' > "$STATE/normal.flows"
            DRIVER=(env BENCH_FLOWS="$STATE/normal.flows" "$HERE/netns-driver.sh") ;;
        ovs) DRIVER=(env OVS_TABLE=normal "$BENCH/switches/ovs.sh") ;;
        linuxbridge) DRIVER=(env LB_NAME="vmb${ID}br" "$BENCH/switches/linuxbridge.sh") ;;
        *) echo "vm-throughput: unknown switch '$spec'" >&2; return 2 ;;
    esac
    log "$spec: booting the guest (offload $offload)"
    local rc=0
    "$VMDIR/run-vm.sh" --background "$STATE/vm.pid" --tap "$TAP" --mac "$GUEST_MAC" \
        --ip "$GUEST_IP/24" --wait-ping "$PEER_IP" --wait-secs 90 --timeout $((150 + REPS * MB * 4)) \
        --offload "$offload" --cmd "$(guest_cmd)" || rc=$?
    if ((rc)); then record_error "$spec" "run-vm.sh failed ($rc)"; return; fi
    ip netns add "$NS"
    ip link add "$VH" type veth peer name "$VP"
    ip link set "$VP" netns "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" addr add "$PEER_IP/24" dev "$VP"
    ip -n "$NS" link set "$VP" up
    [[ $offload == off ]] && ip netns exec "$NS" ethtool -K "$VP" tx off >/dev/null 2>&1
    for l in "$VH" "$TAP"; do sysctl -qw "net.ipv6.conf.$l.disable_ipv6=1" 2>/dev/null; done
    ip link set "$VH" up
    ip link set "$TAP" up
    mkdir -p "$STATE/switch"
    if ! BENCH_STATE=$STATE/switch BENCH_PORT_MODE=veth "${DRIVER[@]}" up "$TAP" "$VH" \
            >"$STATE/driver.log" 2>&1; then
        DRIVER_UP=1
        record_error "$spec" "switch failed to come up: $(tail -3 "$STATE/driver.log" | tr '\n' ' ')"
        teardown; return
    fi
    DRIVER_UP=1
    ip netns exec "$NS" "$PY" -c "$PEER_PY" "$REPS" "$BYTES" > "$STATE/peer.jsonl" 2>"$STATE/peer.err" &
    PEER_PID=$!
    local wrc=0
    "$VMDIR/wait-vm.sh" "$STATE/vm.pid" > "$STATE/guest.out" 2> "$STATE/wait.err" || wrc=$?
    local summary accel load
    summary=$(tail -1 "$STATE/wait.err")
    accel=$(grep -o 'accel=[a-z]*' <<<"$summary" | cut -d= -f2)
    load=$(cut -d' ' -f1 /proc/loadavg)
    log "$spec: guest rc=$wrc; $summary"
    sed 's/^/  guest| /' "$STATE/guest.out" >&2
    # the peer ends after its last transfer; a guest that died leaves it in accept(): stop it
    for _ in $(seq 50); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$PEER_PID" 2>/dev/null; wait "$PEER_PID" 2>/dev/null; PEER_PID=
    local stats
    stats=$(BENCH_STATE=$STATE/switch BENCH_PORT_MODE=veth "${DRIVER[@]}" stats 2>/dev/null | jq -c . 2>/dev/null)
    [[ -n $stats ]] || stats=null
    local n=0 line
    while read -r line; do
        [[ -n $line ]] || continue
        n=$((n + 1))
        jq -c --arg sw "$spec" --arg accel "$accel" --arg load "$load" --arg c "$COMMIT" --arg d "$DATE" \
            '{bench: "vm-throughput", switch: $sw} + . +
             (if .secs then {mbit_s: ((.bytes * 8 / .secs / 1e6) * 10 | round / 10)} else {} end) +
             {accel: $accel, loadavg: ($load | tonumber), commit: $c, date: $d,
              switch_stats: $stats}' --argjson stats "$stats" <<<"$line" >> "$OUT"
        jq -c --arg sw "$spec" '{switch: $sw} + .' <<<"$line" >> "$STATE/all.jsonl"
    done < "$STATE/peer.jsonl"
    ((n)) || record_error "$spec" "no transfer completed (guest rc $wrc): $(tr '\n' ' ' < "$STATE/peer.err" | tail -c 300)"
    teardown
}

record_error() {
    log "$1: ERROR $2"
    jq -nc --arg sw "$1" --arg e "$2" --arg c "$COMMIT" --arg d "$DATE" \
        '{bench: "vm-throughput", switch: $sw, error: $e, commit: $c, date: $d}' | tee -a "$OUT" >> "$STATE/all.jsonl"
}

for b in jq ethtool ip; do command -v $b >/dev/null || { echo "vm-throughput: missing $b" >&2; exit 1; }; done
"$VMDIR/build-image.sh" "${VM_IMAGE:-/var/tmp/vswitch-vm-image}" >&2 || exit 1
: > "$STATE/all.jsonl"
for s in "${SWITCHES[@]}"; do run_switch "$s"; done

echo "VM throughput, $MB MB per transfer, $REPS reps, commit $COMMIT (median Mbit/s; errors counted)"
printf '%-20s %16s %16s\n' switch guest-to-peer peer-to-guest
for s in "${SWITCHES[@]}"; do
    cells=()
    for d in guest-to-peer peer-to-guest; do
        cells+=("$(jq -rs --arg sw "$s" --arg d "$d" '
            [.[] | select(.switch == $sw and (.direction == $d or (.direction == null and .error)))] as $r
            | ([$r[] | select(.secs) | .bytes * 8 / .secs / 1e6] | sort) as $v
            | ($r | map(select(.error)) | length) as $e
            | (if ($v | length) > 0 then ($v[(($v | length) - 1) / 2 | floor] * 10 | round / 10 | tostring) else "-" end)
              + (if $e > 0 then " (\($e) err)" else "" end)' "$STATE/all.jsonl")")
    done
    printf '%-20s %16s %16s\n' "$s" "${cells[@]}"
done

#!/bin/bash
# VM-to-VM TCP (iperf3, 10 s) across a VXLAN overlay between two "hosts" (network namespaces
# joined by a veth underlay, 1500 MTU), each "VM" a namespace with MTU 1400:
#   vswitch: vswitchd in each host, the VM on a TAP port, a vxlan port (key 5000);
#   kernel:  a Linux bridge + vxlan device in each host, the VM on a veth.
# Usage: benches/tunnel/vxlan-side-by-side.sh [vswitch|kernel]...   (root; names start tnlb)
set -u
B=${VSWITCH_BIN:-$(dirname "$0")/../../target/release}
SECS=${SECS:-10}
cleanup() {
  for p in $(cat /tmp/tnlb.pids 2>/dev/null); do kill "$p" 2>/dev/null; done
  rm -f /tmp/tnlb.pids
  for n in tnlbhA tnlbhB tnlbvA tnlbvB; do ip netns del $n 2>/dev/null; done
  rm -rf /tmp/tnlb.d
}
underlay() {
  for n in tnlbhA tnlbhB tnlbvA tnlbvB; do ip netns add $n; ip -n $n link set lo up; done
  ip link add tnlbua type veth peer name tnlbub
  ip link set tnlbua netns tnlbhA; ip link set tnlbub netns tnlbhB
  ip -n tnlbhA addr add 192.168.78.1/24 dev tnlbua; ip -n tnlbhA link set tnlbua up
  ip -n tnlbhB addr add 192.168.78.2/24 dev tnlbub; ip -n tnlbhB link set tnlbub up
}
vm_up() { # ns ifname addr
  ip -n "$1" link set "$2" name eth0; ip -n "$1" link set eth0 mtu 1400
  ip -n "$1" addr add "$3" dev eth0; ip -n "$1" link set eth0 up
}
setup_vswitch() {
  mkdir -p /tmp/tnlb.d
  for h in A B; do
    ip netns exec tnlbh$h "$B/vswitchd" --db /tmp/tnlb.d/$h.db --listen unix:/tmp/tnlb.d/$h.sock \
      --pmd-threads 1 2>/tmp/tnlb.d/$h.log >/dev/null </dev/null &
    echo $! >> /tmp/tnlb.pids
  done
  sleep 1.5
  for h in A B; do
    C="$B/vswitch-ctl --server unix:/tmp/tnlb.d/$h.sock"
    if [ $h = A ]; then R=192.168.78.2; else R=192.168.78.1; fi
    $C add-br br0; $C add-port br0 tnlbt$h --type tap
    $C add-port br0 vx0 --type vxlan --option remote_ip=$R --option key=5000
    $C add-flow br0 actions=normal
    ip -n tnlbh$h link set tnlbt$h netns tnlbv$h
    vm_up tnlbv$h tnlbt$h 10.78.0.$([ $h = A ] && echo 1 || echo 2)/24
  done
}
setup_kernel() {
  for h in A B; do
    if [ $h = A ]; then L=192.168.78.1 R=192.168.78.2 D=tnlbua N=1; else L=192.168.78.2 R=192.168.78.1 D=tnlbub N=2; fi
    ip -n tnlbh$h link add tnlbbr type bridge; ip -n tnlbh$h link set tnlbbr up
    ip -n tnlbh$h link add tnlbvx type vxlan id 5000 dstport 4789 local $L remote $R dev $D
    ip -n tnlbh$h link set tnlbvx master tnlbbr; ip -n tnlbh$h link set tnlbvx up
    ip -n tnlbh$h link add tnlbp$h type veth peer name tnlbq$h
    ip -n tnlbh$h link set tnlbp$h master tnlbbr; ip -n tnlbh$h link set tnlbp$h up
    ip -n tnlbh$h link set tnlbq$h netns tnlbv$h
    vm_up tnlbv$h tnlbq$h 10.78.0.$N/24
  done
}
run_one() {
  cleanup; underlay; "setup_$1"
  ip netns exec tnlbvA ping -c 1 -W 5 10.78.0.2 >/dev/null || ip netns exec tnlbvA ping -c 3 -W 2 10.78.0.2 >/dev/null
  ip netns exec tnlbvB iperf3 -s -1 -D -p 5301 >/dev/null 2>&1; sleep 0.5
  local tcp; tcp=$(ip netns exec tnlbvA iperf3 -c 10.78.0.2 -p 5301 -t "$SECS" -J 2>/dev/null |
    python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))')
  ip netns exec tnlbvB iperf3 -s -1 -D -p 5302 >/dev/null 2>&1; sleep 0.5
  local udp; udp=$(ip netns exec tnlbvA iperf3 -c 10.78.0.2 -p 5302 -u -b 0 -l 64 -t "$SECS" -J 2>/dev/null |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print("%.0f kpps received, %.1f%% lost" % (e["packets"]*(1-e["lost_percent"]/100)/e["seconds"]/1e3, e["lost_percent"]))')
  echo "$1: TCP $tcp Mbit/s; 64-byte UDP: $udp"
  [ -z "${KEEP:-}" ] && cleanup
}
[ -z "${KEEP:-}" ] && trap cleanup EXIT
for what in "${@:-vswitch kernel}"; do for w in $what; do run_one "$w"; done; done

#!/usr/bin/env bash
# Usage: tests/ovn/scenario-a.sh   (with the sandbox up: SWITCH=... tests/ovn/sandbox.sh up)
#
# Issue 19, scenario (a): one logical switch sw0 with a port on each chassis (vm1 on hv1,
# vm2 on hv2, VIF namespaces vov-vm1 and vov-vm2). Waits for each port's ovn-installed,
# then pings vm2 from vm1 across the Geneve tunnel and moves 4 MiB over TCP from vm2 to vm1,
# comparing SHA-256 on both ends. Prints "scenario-a: PASS" and exits 0, or says which step
# failed and exits 1. Every step prints a line starting with "step:" (the Rust test reports
# the last one reached).
set -euo pipefail
DIR=${OVN_SANDBOX_DIR:-/tmp/vov-sandbox}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SB="$HERE/sandbox.sh"
TIMEOUT=${SCENARIO_TIMEOUT:-60}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
[[ -f $DIR/switch ]] || { echo "scenario-a: the sandbox is not up in $DIR" >&2; exit 1; }

nbctl() { ovn-nbctl --db="unix:$DIR/central/nb.sock" "$@"; }
vsctl() { local hv=$1; shift; ovs-vsctl --db="unix:$DIR/$hv/db.sock" --timeout=30 "$@"; }
fail() { echo "scenario-a: FAIL: $*" >&2; exit 1; }
step() { echo "step: $*"; }

step "logical switch sw0, ports vm1 and vm2"
nbctl ls-add sw0
nbctl lsp-add sw0 vm1 -- lsp-set-addresses vm1 "50:54:00:00:00:01 10.0.0.1"
nbctl lsp-add sw0 vm2 -- lsp-set-addresses vm2 "50:54:00:00:00:02 10.0.0.2"

step "VIF namespaces on hv1 and hv2"
"$SB" vif hv1 vm1 vm1 10.0.0.1/24 50:54:00:00:00:01
"$SB" vif hv2 vm2 vm2 10.0.0.2/24 50:54:00:00:00:02

for p in hv1:vm1 hv2:vm2; do
    hv=${p%%:*}; vm=${p#*:}
    step "$vm gets an ofport on $hv"
    vsctl "$hv" --timeout="$TIMEOUT" wait-until Interface "vov-$vm-p" 'ofport>0' \
        || fail "vov-$vm-p has no ofport on $hv: $(vsctl "$hv" get Interface "vov-$vm-p" ofport error)"
    step "$vm is bound and ovn-installed on $hv"
    vsctl "$hv" --timeout="$TIMEOUT" wait-until Interface "vov-$vm-p" external_ids:ovn-installed=true \
        || fail "vov-$vm-p never got ovn-installed on $hv (see $DIR/$hv/ovn-controller.log)"
done
step "northbound up"
nbctl --timeout="$TIMEOUT" wait-until Logical_Switch_Port vm1 up=true || fail "vm1 not up in NB"
nbctl --timeout="$TIMEOUT" wait-until Logical_Switch_Port vm2 up=true || fail "vm2 not up in NB"

step "ping vm1 -> vm2 across the tunnel"
ok=
for _ in $(seq 20); do
    if ip netns exec vov-vm1 ping -c 1 -W 1 10.0.0.2 >/dev/null 2>&1; then ok=1; break; fi
done
[[ -n $ok ]] || fail "vm1 cannot ping vm2"
ip netns exec vov-vm1 ping -c 5 -i 0.2 -W 1 10.0.0.2 | tail -2

step "TCP transfer vm2 -> vm1 with sha256"
work=$(mktemp -d "$DIR/tcp.XXXXXX")
head -c $((4 << 20)) /dev/urandom >"$work/src"
want=$(sha256sum <"$work/src" | cut -d' ' -f1)
ip netns exec vov-vm1 timeout 60 nc -l 5001 >"$work/dst" &
listener=$!
for _ in $(seq 50); do
    ip netns exec vov-vm1 ss -ltn 2>/dev/null | grep -q ':5001 ' && break; sleep 0.1
done
ip netns exec vov-vm2 timeout 60 nc -N 10.0.0.1 5001 <"$work/src" || fail "the TCP sender failed"
wait "$listener" || true
got=$(sha256sum <"$work/dst" | cut -d' ' -f1)
size=$(stat -c %s "$work/dst")
[[ $got == "$want" ]] || fail "TCP content differs: sent $want (4194304 bytes), got $got ($size bytes)"
echo "sha256 $got ($size bytes) matches"
rm -rf "$work"
echo "scenario-a: PASS"

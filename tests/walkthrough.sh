#!/usr/bin/env bash
# The README walkthrough, as a script that runs: two network namespaces on TAP ports of one
# bridge, a ping, a drop rule that stops it, `trace`, `dump-megaflows` and `datapath-stats`.
#
# Usage (as root):  tests/walkthrough.sh
#   VSWITCHD / VSWITCH_CTL   the binaries (default: target/release, else target/debug)
#   WALKTHROUGH_QUIET=1      print only the commands' output, not the narration
#
# Everything it creates (two namespaces, the daemon, a temp directory with the db and socket)
# is removed on exit, also on failure. Traffic stays between the two namespaces.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
pick() {
    for d in release debug; do
        if [[ -x "$here/target/$d/$1" ]]; then echo "$here/target/$d/$1"; return; fi
    done
    echo "walkthrough: $1 not built (cargo build --release)" >&2
    exit 2
}
VSWITCHD="${VSWITCHD:-$(pick vswitchd)}"
VSWITCH_CTL="${VSWITCH_CTL:-$(pick vswitch-ctl)}"

if [[ $(id -u) -ne 0 ]]; then
    echo "walkthrough: needs root (network namespaces, TAP devices)" >&2
    exit 2
fi

# Unique names: several runs (and tests) may run at once.
id="$$"
ns1="vsw-wt-$id-a"
ns2="vsw-wt-$id-b"
tap1="wta${id}"
tap2="wtb${id}"
br="br$id"
work="$(mktemp -d /tmp/vswitch-walkthrough.XXXXXX)"
daemon_pid=""

cleanup() {
    set +e
    ip netns del "$ns1" 2>/dev/null
    ip netns del "$ns2" 2>/dev/null
    if [[ -n "$daemon_pid" ]]; then
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

say() { [[ -n "${WALKTHROUGH_QUIET:-}" ]] || printf '\n### %s\n' "$*"; }
ctl() {
    printf '$ vswitch-ctl %s\n' "$*"
    "$VSWITCH_CTL" --server "unix:$work/vswitchd.sock" "$@"
}

say "Start the daemon (foreground; here in the background, with its own db and socket)"
"$VSWITCHD" --db "$work/conf.db" --listen "unix:$work/vswitchd.sock" --pmd-threads 1 \
    2>"$work/vswitchd.log" &
daemon_pid=$!
for _ in $(seq 200); do
    [[ -S "$work/vswitchd.sock" ]] && break
    sleep 0.05
done
[[ -S "$work/vswitchd.sock" ]] || { cat "$work/vswitchd.log" >&2; exit 1; }

say "A bridge with two TAP ports"
ctl add-br "$br"
ctl add-port "$br" "$tap1" --type tap --ofport 1
ctl add-port "$br" "$tap2" --type tap --ofport 2
ctl dump-flows "$br"    # a new bridge starts with OVS's rule: priority=0,actions=normal

say "Move each TAP into its own namespace (these are the 'hosts')"
for n in 1 2; do
    ns="ns$n"; tap="tap$n"
    ip netns add "${!ns}"
    ip link set "${!tap}" netns "${!ns}"
    ip -n "${!ns}" link set lo up
    ip -n "${!ns}" addr add "10.240.0.$n/24" dev "${!tap}"
    ip -n "${!ns}" link set "${!tap}" up
done

say "The hosts reach each other through the switch (NORMAL learns their MACs)"
ip netns exec "$ns1" ping -c 3 -i 0.2 -W 2 10.240.0.2
ctl fdb-show "$br"

say "A drop rule for ICMP takes effect at once, also for the flow already cached"
ctl add-flow "$br" "priority=100,icmp,actions=drop"
if ip netns exec "$ns1" ping -c 2 -i 0.2 -W 1 10.240.0.2; then
    echo "walkthrough: ping still works after the drop rule" >&2
    exit 1
fi

say "trace shows why: the packet matches the drop rule"
ctl trace "$br" "in_port=1,icmp,nw_src=10.240.0.1,nw_dst=10.240.0.2"

say "The rule's counters, the megaflows the datapath cached, and its counters"
ctl dump-flows "$br"
ctl dump-megaflows
ctl datapath-stats

say "dpctl-show maps the datapath port numbers above to the bridge's OpenFlow ports"
ctl dpctl-show | tee "$work/dpctl-show"
grep -q ": $tap1 (tap; bridge $br, ofport 1)" "$work/dpctl-show" || {
    echo "walkthrough: dpctl-show does not list OpenFlow port 1 of $br" >&2
    exit 1
}

say "Remove the rule: the ping works again"
ctl del-flows "$br" "icmp"
ip netns exec "$ns1" ping -c 3 -i 0.2 -W 2 10.240.0.2
ctl dump-flows "$br"
ctl dump-ports "$br"

say "Done (cleanup removes the namespaces, the daemon and its files)"

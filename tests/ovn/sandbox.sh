#!/usr/bin/env bash
# Usage: tests/ovn/sandbox.sh up|down|status|vif|env ...
#
#   up                       central + two chassis, all processes under $OVN_SANDBOX_DIR
#   down                     stop everything started here (by PID, then by namespace), idempotent
#   status                   what is running; ovn-sbctl show
#   vif HV VM LSP IP/LEN MAC attach a VIF namespace vov-VM to chassis HV (hv1|hv2): a veth
#                            vov-VM-p (switch side, in vov-HV) <-> eth0 (in vov-VM), added to
#                            br-int with external_ids:iface-id=LSP
#   env HV                   print exports that point ovs-vsctl/ovs-ofctl/ovn-* at chassis HV
#
# Environment:
#   SWITCH=ovs|vswitch       the switch on each chassis (default vswitch): ovs-vswitchd on the
#                            netdev datapath (the reference) or our vswitchd --ovsdb
#   OVN_SANDBOX_DIR          state dir (default /tmp/vov-sandbox): databases, sockets, pid and
#                            log files of every process
#   VSWITCHD                 our daemon (default: target/release/vswitchd of this repo)
#   OVN_CONTROLLER_ARGS      extra ovn-controller options, e.g. -vvconn:file:dbg to log every
#                            OpenFlow message it exchanges with the switch
#
# Layout. Namespaces (prefix vov-): vov-central runs the OVN_Northbound and OVN_Southbound
# ovsdb-servers (unix sockets DIR/central/{nb,sb}.sock; SB also on tcp:10.77.0.1:6642) and
# ovn-northd; vov-hv1 and vov-hv2 each run an ovsdb-server with the Open_vSwitch database
# (DIR/hvN/db.sock), the switch and ovn-controller with OVS_RUNDIR=DIR/hvN (so br-int.mgmt is
# DIR/hvN/br-int.mgmt). The underlay is a Linux bridge in vov-central with a veth to each
# chassis (10.77.0.11 and .12, /24); Geneve runs between the chassis over it. Under OVS's
# netdev datapath a tunnel needs its underlay address on an OVS bridge (userspace tunnelling):
# the chassis' underlay veth is then a port of br-phy, which holds the address. vswitch sends
# tunnels through the namespace's own IP stack, so the address stays on the veth.
#
# Never touches the system OVS/OVN services or databases: every process gets explicit
# database, socket, pid, log and unixctl paths under DIR.
set -euo pipefail

DIR=${OVN_SANDBOX_DIR:-/tmp/vov-sandbox}
SWITCH=${SWITCH:-vswitch}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VSWITCHD=${VSWITCHD:-$REPO/target/release/vswitchd}
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
NB_SCHEMA=/usr/share/ovn/ovn-nb.ovsschema
SB_SCHEMA=/usr/share/ovn/ovn-sb.ovsschema
CENTRAL_IP=10.77.0.1
declare -A HV_IP=([hv1]=10.77.0.11 [hv2]=10.77.0.12)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
log() { echo "sandbox: $*" >&2; }
die() { echo "sandbox: error: $*" >&2; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Points OVS and OVN tools at one directory (no system paths).
dir_env() {
    local d=$1
    export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d OVS_SYSCONFDIR=$d
    export OVN_RUNDIR=$d OVN_LOGDIR=$d OVN_DBDIR=$d OVN_SYSCONFDIR=$d
}

vsctl() { local hv=$1; shift; ovs-vsctl --db="unix:$DIR/$hv/db.sock" --timeout=30 "$@"; }
nbctl() { ovn-nbctl --db="unix:$DIR/central/nb.sock" "$@"; }
sbctl() { ovn-sbctl --db="unix:$DIR/central/sb.sock" "$@"; }

alive_pidfile() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $1 seconds for a command to succeed.
wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || return 1
        sleep 0.2
    done
}

# An ovsdb-server in namespace $1 for database file $2 with remotes "${@:3}".
start_ovsdb() {
    local ns=$1 db=$2; shift 2
    local d name; d=$(dirname "$db"); name=$(basename "$db" .db)
    local remotes=()
    for r in "$@"; do remotes+=("--remote=$r"); done
    nsx "$ns" ovsdb-server --detach --no-chdir --pidfile="$d/$name-ovsdb.pid" \
        --unixctl="$d/$name-ovsdb.ctl" -vconsole:off --log-file="$d/$name-ovsdb.log" \
        "${remotes[@]}" "$db"
}

up_central() {
    local d=$DIR/central
    mkdir -p "$d"
    ip netns add vov-central
    nsx vov-central ip link set lo up
    nsx vov-central ip link add vov-ul type bridge
    nsx vov-central ip addr add "$CENTRAL_IP/24" dev vov-ul
    nsx vov-central ip link set vov-ul up
    ovsdb-tool create "$d/nb.db" "$NB_SCHEMA"
    ovsdb-tool create "$d/sb.db" "$SB_SCHEMA"
    start_ovsdb vov-central "$d/nb.db" "punix:$d/nb.sock"
    start_ovsdb vov-central "$d/sb.db" "punix:$d/sb.sock" "ptcp:6642:$CENTRAL_IP"
    (dir_env "$d"; nsx vov-central ovn-northd --detach --no-chdir --pidfile="$d/ovn-northd.pid" \
        --unixctl="$d/ovn-northd.ctl" -vconsole:off --log-file="$d/ovn-northd.log" \
        --ovnnb-db="unix:$d/nb.sock" --ovnsb-db="unix:$d/sb.sock")
    wait_for 10 nbctl --timeout=2 show || die "NB database does not answer"
    nbctl --wait=sb sync
}

up_chassis() {
    local hv=$1 ip=${HV_IP[$1]} d=$DIR/$1 ns=vov-$1
    mkdir -p "$d"
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    # Underlay: vov-HV-ul (chassis) <-> vov-HV-br (central's bridge).
    ip link add "vov-$hv-ul" netns "$ns" type veth peer name "vov-$hv-br" netns vov-central
    nsx vov-central ip link set "vov-$hv-br" master vov-ul up
    nsx "$ns" ip link set "vov-$hv-ul" up
    ovsdb-tool create "$d/conf.db" "$OVS_SCHEMA"
    start_ovsdb "$ns" "$d/conf.db" "punix:$d/db.sock"
    vsctl "$hv" --no-wait init
    vsctl "$hv" --no-wait set Open_vSwitch . \
        external_ids:system-id="$hv" \
        external_ids:hostname="$hv" \
        external_ids:ovn-remote="tcp:$CENTRAL_IP:6642" \
        external_ids:ovn-encap-type=geneve \
        external_ids:ovn-encap-ip="$ip" \
        external_ids:ovn-bridge-datapath-type=netdev
    case $SWITCH in
        ovs)
            (dir_env "$d"; nsx "$ns" ovs-vswitchd --detach --no-chdir --pidfile="$d/ovs-vswitchd.pid" \
                --unixctl="$d/ovs-vswitchd.ctl" -vconsole:off --log-file="$d/ovs-vswitchd.log" \
                --disable-system "unix:$d/db.sock")
            # Userspace tunnelling: the underlay address lives on br-phy.
            vsctl "$hv" add-br br-phy -- set Bridge br-phy datapath_type=netdev \
                -- add-port br-phy "vov-$hv-ul"
            # OVS's netdev datapath reads veths with AF_PACKET and passes partial checksums
            # on as they are: the kernel must compute them (OVS's own system-userspace tests
            # do the same).
            nsx "$ns" ethtool -K "vov-$hv-ul" tx off >/dev/null
            nsx vov-central ethtool -K "vov-$hv-br" tx off >/dev/null
            nsx "$ns" ip addr add "$ip/24" dev br-phy
            nsx "$ns" ip link set br-phy up
            ;;
        vswitch)
            [[ -x $VSWITCHD ]] || die "no vswitchd at $VSWITCHD (cargo build --release -p vswitchd)"
            nsx "$ns" ip addr add "$ip/24" dev "vov-$hv-ul"
            nsx "$ns" "$VSWITCHD" --db "$d/vswitch.db" --listen "unix:$d/vswitchd.sock" \
                --ovsdb "unix:$d/db.sock" --pmd-threads 1 --log info \
                >"$d/vswitchd.log" 2>&1 </dev/null &
            echo $! >"$d/vswitchd.pid"
            wait_for 20 test -S "$d/vswitchd.sock" || die "vswitchd did not start (see $d/vswitchd.log)"
            ;;
        *) die "SWITCH must be ovs or vswitch, not '$SWITCH'" ;;
    esac
    wait_for 10 nsx "$ns" ping -c1 -W1 "$CENTRAL_IP" || die "$hv cannot reach the central over the underlay"
    (dir_env "$d"; nsx "$ns" ovn-controller --detach --no-chdir --pidfile="$d/ovn-controller.pid" \
        -vconsole:off --log-file="$d/ovn-controller.log" ${OVN_CONTROLLER_ARGS:-} \
        "unix:$d/db.sock")
}

up() {
    [[ -e $DIR/switch ]] && die "a sandbox is already in $DIR (run down first)"
    for ns in vov-central vov-hv1 vov-hv2; do
        ip netns list | grep -qw "^$ns" && die "namespace $ns exists (run down first)"
    done
    # A fresh sandbox: the previous run's databases and logs go.
    rm -rf "${DIR:?}/central" "$DIR/hv1" "$DIR/hv2" "$DIR"/tcp.*
    mkdir -p "$DIR"
    echo "$SWITCH" >"$DIR/switch"
    up_central
    up_chassis hv1
    up_chassis hv2
    # Both chassis registered with their Geneve encaps, br-int created by ovn-controller.
    for hv in hv1 hv2; do
        wait_for 60 bash -c "ovn-sbctl --db=unix:$DIR/central/sb.sock --bare --columns=type find Encap chassis_name=$hv | grep -q geneve" \
            || die "$hv did not register in the southbound database (see $DIR/$hv/ovn-controller.log)"
        wait_for 60 vsctl "$hv" br-exists br-int || die "$hv has no br-int (see $DIR/$hv/ovn-controller.log)"
    done
    log "up in $DIR with SWITCH=$SWITCH"
}

vif() {
    (($# == 5)) || usage
    local hv=$1 vm=$2 lsp=$3 cidr=$4 mac=$5
    local ns=vov-$vm port=vov-$vm-p
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    ip link add "$port" netns "vov-$hv" type veth peer name eth0 netns "$ns"
    nsx "$ns" ip link set eth0 address "$mac" mtu 1400
    nsx "$ns" ip addr add "$cidr" dev eth0
    nsx "$ns" ip link set eth0 up
    nsx "vov-$hv" ip link set "$port" mtu 1400 up
    if [[ $(cat "$DIR/switch") == ovs ]]; then
        # See up_chassis: OVS's netdev datapath does not complete partial checksums.
        nsx "$ns" ethtool -K eth0 tx off >/dev/null
        nsx "vov-$hv" ethtool -K "$port" tx off >/dev/null
    fi
    vsctl "$hv" add-port br-int "$port" -- set Interface "$port" external_ids:iface-id="$lsp"
}

kill_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    # OVS's bridges first, so its devices go (harmless when nothing runs).
    for hv in hv1 hv2; do
        if [[ -f $DIR/$hv/ovs-vswitchd.pid ]] && alive_pidfile "$DIR/$hv/ovs-vswitchd.pid" \
            && alive_pidfile "$DIR/$hv/conf-ovsdb.pid"; then
            for br in $(vsctl "$hv" --timeout=5 list-br 2>/dev/null); do
                vsctl "$hv" --timeout=5 del-br "$br" 2>/dev/null || true
            done
        fi
    done
    # Every process we started, by its pid file ...
    local f
    for f in "$DIR"/*/ovn-controller.pid "$DIR"/*/ovn-northd.pid "$DIR"/*/ovs-vswitchd.pid \
        "$DIR"/*/vswitchd.pid "$DIR"/*/*-ovsdb.pid; do
        [[ -f $f ]] && kill_pid "$(cat "$f")"
    done
    # ... and whatever still runs in our namespaces (after a crash of this script).
    local ns
    for ns in $(ip netns list | awk '{print $1}' | grep '^vov-' || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$pid"; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "$DIR/switch"
    log "down ($DIR)"
}

status() {
    [[ -f $DIR/switch ]] || { echo "not up"; exit 1; }
    echo "SWITCH=$(cat "$DIR/switch") in $DIR"
    for f in "$DIR"/*/*.pid; do
        if alive_pidfile "$f"; then echo "running: ${f#"$DIR"/} $(cat "$f")"
        else echo "DEAD:    ${f#"$DIR"/}"; fi
    done
    sbctl --timeout=5 show
}

cmd=${1:-}; shift || true
case $cmd in
    up) up ;;
    down) down ;;
    status) status ;;
    vif) vif "$@" ;;
    env)
        (($# == 1)) || usage
        echo "export OVS_RUNDIR='$DIR/$1' OVN_RUNDIR='$DIR/$1' OVS_DBDIR='$DIR/$1' OVS_LOGDIR='$DIR/$1'"
        echo "alias ovs-vsctl='ovs-vsctl --db=unix:$DIR/$1/db.sock'"
        echo "alias ovn-nbctl='ovn-nbctl --db=unix:$DIR/central/nb.sock'"
        echo "alias ovn-sbctl='ovn-sbctl --db=unix:$DIR/central/sb.sock'" ;;
    *) usage ;;
esac

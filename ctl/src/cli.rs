//! The command line of `vswitch-ctl` (DESIGN §4): global options and one subcommand per RPC.
//!
//! Names and arguments are fixed by the design and mirror ovs-vsctl / ovs-ofctl /
//! ovs-appctl, so people and scripts that know OVS can guess them. Every subcommand has its
//! own `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For scripts: one JSON value on stdout.
    Json,
}

/// vswitch-ctl — configure and inspect a running vswitchd over its gRPC API.
#[derive(Debug, Parser)]
#[command(name = "vswitch-ctl", version, about, long_about = None)]
pub struct Cli {
    /// vswitchd address: unix:PATH, tcp:HOST:PORT, or a socket path [default: $VSWITCH_SERVER,
    /// else the daemon's default socket].
    #[arg(long, global = true, value_name = "ADDR")]
    pub server: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// TLS: client certificate (PEM) for a tcp: server that requires mutual TLS.
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// TLS: private key of --tls-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// TLS: CA certificate (PEM) the server's certificate must chain to.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Port types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PortTypeArg {
    /// A TAP device created and owned by the switch.
    Tap,
    /// An existing interface, attached through AF_PACKET.
    System,
    /// The bridge's host-stack port.
    Internal,
    /// Joins two bridges (needs --option peer=PORT).
    Patch,
    /// In-memory, for tests.
    Dummy,
    /// A VXLAN tunnel (needs --option remote_ip=IP|flow; key, local_ip, dst_port, csum, tos,
    /// ttl, df_default as in OVS).
    Vxlan,
    /// A Geneve tunnel (same options).
    Geneve,
    /// A GRE tunnel carrying Ethernet (same options but dst_port).
    Gre,
}

/// Fail modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailModeArg {
    /// Keep a priority=0,actions=normal rule (the default).
    Standalone,
    /// No default rule: a table miss drops.
    Secure,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a bridge (fail mode standalone: one priority=0,actions=normal rule).
    ///
    /// OVS's chained forms that set the fail mode are accepted:
    /// `add-br BR -- set Bridge BR fail_mode=secure` and `add-br BR -- set-fail-mode BR secure`
    /// (a secure bridge starts with no rules).
    #[command(name = "add-br")]
    AddBr {
        bridge: String,
        /// After `--`: `set Bridge BR fail_mode=MODE` or `set-fail-mode BR MODE`.
        #[arg(last = true, value_name = "-- COMMAND")]
        chained: Vec<String>,
    },
    /// Set a bridge's fail mode. standalone (the default): a priority=0,actions=normal rule
    /// switches like a learning switch; secure: no default rule, a table miss drops. As in
    /// OVS, changing the mode in effect flushes the bridge's flows.
    #[command(name = "set-fail-mode")]
    SetFailMode {
        bridge: String,
        #[arg(value_enum)]
        mode: FailModeArg,
    },
    /// Print a bridge's fail mode (nothing if it is not set, which acts as standalone).
    #[command(name = "get-fail-mode")]
    GetFailMode { bridge: String },
    /// Clear a bridge's fail mode (back to standalone).
    #[command(name = "del-fail-mode")]
    DelFailMode { bridge: String },
    /// Set a bridge's OpenFlow controllers, replacing any: tcp:IP[:PORT] (default port 6653)
    /// and unix:PATH connect to a controller; ptcp:PORT[:IP] and punix:PATH listen for
    /// controllers (ptcp only on a loopback address: OpenFlow has no TLS here). As in OVS,
    /// the first controller of a bridge flushes its flows; a standalone bridge whose
    /// controllers are all disconnected for 15 s switches by NORMAL until one is back.
    #[command(name = "set-controller")]
    SetController {
        bridge: String,
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
    },
    /// Print a bridge's controller targets, one per line, sorted (as ovs-vsctl does).
    #[command(name = "get-controller")]
    GetController {
        bridge: String,
        /// Add each connection's state: connected or not, role, state, last error.
        #[arg(long)]
        status: bool,
    },
    /// Remove a bridge's controllers (its flows are flushed; standalone gets NORMAL back).
    #[command(name = "del-controller")]
    DelController { bridge: String },
    /// Delete a bridge with its ports and flows.
    #[command(name = "del-br")]
    DelBr { bridge: String },
    /// List bridges.
    #[command(name = "list-br")]
    ListBr,
    /// Show every bridge and its ports.
    Show,
    /// Show datapath port numbers (those of trace's `Datapath actions` and `dump-megaflows`)
    /// with the bridge and OpenFlow port each belongs to, like `ovs-appctl dpctl/show`.
    #[command(name = "dpctl-show")]
    DpctlShow,
    /// Add a port to a bridge.
    #[command(name = "add-port")]
    AddPort(AddPortArgs),
    /// Remove a port from a bridge.
    #[command(name = "del-port")]
    DelPort { bridge: String, port: String },
    /// List a bridge's ports.
    #[command(name = "list-ports")]
    ListPorts { bridge: String },
    /// Change port settings: tag=N|none, trunks=V,V|none, type=T, ofport=N, options:K=V (empty V removes).
    #[command(name = "set-port")]
    SetPort {
        bridge: String,
        port: String,
        /// KEY=VALUE settings, applied all or none.
        #[arg(required = true, value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Show switch-wide settings (every known key, or one), as in force.
    #[command(name = "get-config")]
    GetConfig { key: Option<String> },
    /// Change switch-wide settings, all or none: flow-limit=N (empty value: the default).
    #[command(name = "set-config")]
    SetConfig {
        /// KEY=VALUE settings, applied all or none.
        #[arg(required = true, value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Add one flow (ovs-ofctl syntax).
    #[command(name = "add-flow")]
    AddFlow { bridge: String, flow: String },
    /// Add the flows of FILE (or stdin with -), one per line, atomically.
    #[command(name = "add-flows")]
    AddFlows { bridge: String, file: String },
    /// Change the actions of matching flows.
    #[command(name = "mod-flows")]
    ModFlows {
        bridge: String,
        flow: String,
        /// Only the flow with exactly this match and priority.
        #[arg(long)]
        strict: bool,
    },
    /// Delete matching flows (all flows without MATCH).
    #[command(name = "del-flows")]
    DelFlows {
        bridge: String,
        #[arg(value_name = "MATCH")]
        r#match: Option<String>,
        /// Only the flow with exactly this match and priority.
        #[arg(long)]
        strict: bool,
    },
    /// Replace the whole flow table with the flows of FILE (or stdin with -), atomically.
    #[command(name = "replace-flows")]
    ReplaceFlows { bridge: String, file: String },
    /// Show flows with their counters.
    #[command(name = "dump-flows")]
    DumpFlows {
        bridge: String,
        #[arg(value_name = "MATCH")]
        r#match: Option<String>,
        /// Only this table.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=254))]
        table: Option<u32>,
        /// Leave out durations and counters (and a zero cookie or table), as
        /// `ovs-ofctl --no-stats dump-flows`: the output feeds `replace-flows` back.
        #[arg(long)]
        no_stats: bool,
    },
    /// Add an OpenFlow group (ovs-ofctl group syntax).
    #[command(name = "add-group")]
    AddGroup { bridge: String, group: String },
    /// Add the groups of FILE, one per line.
    #[command(name = "add-groups")]
    AddGroups { bridge: String, file: String },
    /// Replace a group's type and buckets.
    #[command(name = "mod-group")]
    ModGroup {
        bridge: String,
        group: String,
        /// Add the group if it does not exist.
        #[arg(long)]
        may_create: bool,
    },
    /// Delete groups (all without group_id=N) and the flows that send to them.
    #[command(name = "del-groups")]
    DelGroups {
        bridge: String,
        #[arg(value_name = "group_id=N")]
        group: Option<String>,
    },
    /// Show groups.
    #[command(name = "dump-groups")]
    DumpGroups {
        bridge: String,
        #[arg(value_name = "group_id=N")]
        group: Option<String>,
    },
    /// Show group and bucket counters.
    #[command(name = "dump-group-stats")]
    DumpGroupStats {
        bridge: String,
        #[arg(value_name = "group_id=N")]
        group: Option<String>,
    },
    /// Map Geneve options to tun_metadataN fields (ovs-ofctl add-tlv-map syntax:
    /// `{class=0xffff,type=0,len=4}->tun_metadata0[,...]`).
    #[command(name = "add-tlv-map")]
    AddTlvMap { bridge: String, maps: String },
    /// Remove the mappings MAPS names, or every mapping (refused while a flow uses one).
    #[command(name = "del-tlv-map")]
    DelTlvMap {
        bridge: String,
        maps: Option<String>,
    },
    /// Show the bridge's TLV map.
    #[command(name = "dump-tlv-map")]
    DumpTlvMap { bridge: String },
    /// Add an OpenFlow meter (ovs-ofctl meter syntax: meter=N,kbps|pktps[,burst][,stats],bands=type=drop,rate=R[,burst_size=B]).
    #[command(name = "add-meter")]
    AddMeter { bridge: String, meter: String },
    /// Replace a meter's unit, flags and bands (its counters restart).
    #[command(name = "mod-meter")]
    ModMeter { bridge: String, meter: String },
    /// Delete a meter (all without meter=N) and the flows that use it.
    #[command(name = "del-meter")]
    DelMeter {
        bridge: String,
        #[arg(value_name = "meter=N")]
        meter: Option<String>,
    },
    /// Delete meters (all without meter=N) and the flows that use them.
    #[command(name = "del-meters")]
    DelMeters {
        bridge: String,
        #[arg(value_name = "meter=N")]
        meter: Option<String>,
    },
    /// Show meters.
    #[command(name = "dump-meters")]
    DumpMeters {
        bridge: String,
        #[arg(value_name = "meter=N")]
        meter: Option<String>,
    },
    /// Show meter and band counters.
    #[command(name = "meter-stats")]
    MeterStats {
        bridge: String,
        #[arg(value_name = "meter=N")]
        meter: Option<String>,
    },
    /// Add a port mirror (SPAN): copies of the selected packets go to --output-port or are
    /// flooded in --output-vlan. With no --select-src-port/--select-dst-port every port is
    /// selected (OVS's select_all).
    #[command(name = "add-mirror")]
    AddMirror {
        bridge: String,
        name: String,
        /// Mirror packets entering on this port (repeatable).
        #[arg(long = "select-src-port", value_name = "PORT")]
        select_src_port: Vec<String>,
        /// Mirror packets leaving on this port (repeatable).
        #[arg(long = "select-dst-port", value_name = "PORT")]
        select_dst_port: Vec<String>,
        /// Only packets in this VLAN (repeatable).
        #[arg(long = "select-vlan", value_name = "VLAN")]
        select_vlan: Vec<u32>,
        /// Send the copies to this port (reserved for mirroring from then on).
        #[arg(
            long = "output-port",
            value_name = "PORT",
            conflicts_with = "output_vlan",
            required_unless_present = "output_vlan"
        )]
        output_port: Option<String>,
        /// Flood the copies in this VLAN.
        #[arg(long = "output-vlan", value_name = "VLAN")]
        output_vlan: Option<u32>,
    },
    /// Delete a port mirror.
    #[command(name = "del-mirror")]
    DelMirror { bridge: String, name: String },
    /// Show a bridge's mirrors with their counters (tx_packets, tx_bytes).
    #[command(name = "list-mirrors")]
    ListMirrors { bridge: String },
    /// Show port counters.
    #[command(name = "dump-ports")]
    DumpPorts {
        bridge: String,
        port: Option<String>,
    },
    /// Trace a packet through a bridge: `trace BR PACKET`, or offline with no daemon:
    /// `trace --flows FILE [--ports N] PACKET`.
    Trace(TraceArgs),
    /// Show installed megaflows.
    #[command(name = "dump-megaflows")]
    DumpMegaflows { bridge: Option<String> },
    /// Delete every megaflow.
    #[command(name = "flush-megaflows")]
    FlushMegaflows,
    /// Show datapath counters.
    #[command(name = "datapath-stats")]
    DatapathStats,
    /// Show a bridge's learned MAC addresses.
    #[command(name = "fdb-show")]
    FdbShow { bridge: String },
    /// Show conntrack entries.
    #[command(name = "dump-conntrack")]
    DumpConntrack {
        /// Only this zone.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=65535))]
        zone: Option<u32>,
    },
    /// Delete conntrack entries: all, a zone's, or those matching a tuple (as
    /// ovs-appctl dpctl/flush-conntrack).
    ///
    /// A tuple is `field=value` pairs separated by commas, every field optional:
    /// ct_nw_src, ct_nw_dst (IPv4) or ct_ipv6_src, ct_ipv6_dst (IPv6); ct_nw_proto;
    /// ct_tp_src, ct_tp_dst (need ct_nw_proto=6 or 17); icmp_type, icmp_code, icmp_id (need
    /// ct_nw_proto=1 or 58). Example:
    ///
    ///   flush-conntrack --zone 1 ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_src=1234,ct_tp_dst=80
    ///
    /// With a tuple, only connections of --zone (default 0, as in OVS) are considered. A
    /// complete ORIG-TUPLE (addresses, protocol, and both ports or the three ICMP fields)
    /// removes the connection with that tuple in either direction; otherwise every
    /// connection whose original tuple matches ORIG-TUPLE's fields, and whose reply tuple
    /// (after NAT) matches REPLY-TUPLE's, is removed.
    #[command(name = "flush-conntrack")]
    FlushConntrack {
        /// Only this zone.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=65535))]
        zone: Option<u32>,
        /// Pattern on the original direction's tuple.
        #[arg(value_name = "ORIG-TUPLE")]
        orig: Option<String>,
        /// Pattern on the reply direction's tuple (after NAT).
        #[arg(value_name = "REPLY-TUPLE", requires = "orig")]
        reply: Option<String>,
    },
    /// Show conntrack limits, or set one with --limit (with --zone: that zone's; without: the
    /// default). 0 means unlimited.
    #[command(name = "ct-limits")]
    CtLimits {
        /// Zone.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=65535))]
        zone: Option<u32>,
        /// New limit.
        #[arg(long)]
        limit: Option<u64>,
    },
}

/// Arguments of `add-port`.
#[derive(Debug, Args)]
pub struct AddPortArgs {
    pub bridge: String,
    pub port: String,
    /// Port type [default: system].
    #[arg(long = "type", value_enum)]
    pub kind: Option<PortTypeArg>,
    /// OpenFlow port number [default: lowest free from 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=0xfeff))]
    pub ofport: Option<u32>,
    /// Access VLAN.
    #[arg(long, value_name = "VLAN", value_parser = clap::value_parser!(u32).range(0..=4095))]
    pub tag: Option<u32>,
    /// Trunk VLANs, comma-separated.
    #[arg(long, value_name = "V,V", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(0..=4095))]
    pub trunks: Vec<u32>,
    /// Type-specific option, repeatable (e.g. peer=PORT for patch ports).
    #[arg(long = "option", value_name = "K=V")]
    pub options: Vec<String>,
}

/// Arguments of `trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// BR PACKET, or only PACKET with --flows (several with --flows --generate).
    #[arg(required = true, num_args = 1.., value_name = "BR PACKET")]
    pub args: Vec<String>,
    /// Let the trace's side effects happen, as ofproto/trace's -generate: NORMAL learns the
    /// source MAC and `learn` actions install their flows. Offline, each PACKET is traced in
    /// turn through the same in-memory bridge.
    #[arg(long)]
    pub generate: bool,
    /// Conntrack state after each ct recirculation, e.g. trk,est (repeatable).
    #[arg(long = "ct-next", value_name = "STATE")]
    pub ct_next: Vec<String>,
    /// Offline: trace through the flows of FILE in an in-memory bridge, without a daemon.
    #[arg(long, value_name = "FILE")]
    pub flows: Option<String>,
    /// Offline: groups of FILE (one per line, ovs-ofctl add-groups syntax) in the in-memory
    /// bridge.
    #[arg(long, value_name = "FILE", requires = "flows")]
    pub groups: Option<String>,
    /// Offline: meters of FILE (one per line, ovs-ofctl add-meter syntax) in the in-memory
    /// bridge.
    #[arg(long, value_name = "FILE", requires = "flows")]
    pub meters: Option<String>,
    /// Offline: number of ports p1..pN of the in-memory bridge (OpenFlow port i = pi).
    #[arg(long, value_name = "N", requires = "flows", default_value_t = 8)]
    pub ports: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vswitch-ctl").chain(args.iter().copied()))
    }

    #[test]
    fn parses_design_command_lines() {
        let c = parse(&[
            "--format", "json", "add-port", "br0", "p1", "--type", "patch", "--option", "peer=p2",
            "--trunks", "1,2",
        ])
        .unwrap();
        assert_eq!(c.format, Format::Json);
        let Command::AddPort(a) = c.command else {
            panic!()
        };
        assert_eq!(
            (a.kind, a.trunks, a.options),
            (
                Some(PortTypeArg::Patch),
                vec![1, 2],
                vec!["peer=p2".to_owned()]
            )
        );
        let c = parse(&[
            "trace",
            "--flows",
            "f.txt",
            "--ports",
            "4",
            "in_port=1",
            "--ct-next",
            "trk,est",
        ])
        .unwrap();
        let Command::Trace(t) = c.command else {
            panic!()
        };
        assert_eq!(
            (t.args, t.ports, t.ct_next),
            (vec!["in_port=1".to_owned()], 4, vec!["trk,est".to_owned()])
        );
        assert!(parse(&["del-flows", "br0", "--strict"]).is_ok());
        let c = parse(&[
            "add-br",
            "br0",
            "--",
            "set",
            "Bridge",
            "br0",
            "fail_mode=secure",
        ])
        .unwrap();
        let Command::AddBr { bridge, chained } = c.command else {
            panic!()
        };
        assert_eq!(bridge, "br0");
        assert_eq!(chained, ["set", "Bridge", "br0", "fail_mode=secure"]);
        assert!(parse(&["set-fail-mode", "br0", "secure"]).is_ok());
        assert!(parse(&["set-fail-mode", "br0", "open"]).is_err());
        assert!(
            parse(&[
                "dump-flows",
                "br0",
                "tcp",
                "--table",
                "3",
                "--server",
                "unix:/x"
            ])
            .is_ok()
        );
        assert!(parse(&["ct-limits", "--zone", "65536"]).is_err());
        let c = parse(&[
            "flush-conntrack",
            "--zone",
            "3",
            "ct_nw_proto=17",
            "ct_nw_dst=10.0.0.9",
        ])
        .unwrap();
        let Command::FlushConntrack { zone, orig, reply } = c.command else {
            panic!()
        };
        assert_eq!(zone, Some(3));
        assert_eq!(orig.as_deref(), Some("ct_nw_proto=17"));
        assert_eq!(reply.as_deref(), Some("ct_nw_dst=10.0.0.9"));
        assert!(parse(&["flush-conntrack", "a=1", "b=2", "c=3"]).is_err());
        assert!(parse(&["add-port", "br0", "p1", "--tag", "4096"]).is_err());
        assert!(
            parse(&["set-port", "br0", "p1"]).is_err(),
            "needs KEY=VALUE"
        );
        assert!(
            parse(&["trace", "--ports", "3", "br0", "pkt"]).is_err(),
            "--ports needs --flows"
        );
    }
}

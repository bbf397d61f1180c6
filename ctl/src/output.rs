//! Printing results: text for people, `--format json` for scripts.
//!
//! Each command builds both renderings from the same reply. JSON output is always exactly
//! one JSON value on stdout (dumps are arrays), so `vswitch-ctl --format json ... | jq`
//! works for every command; text output follows the OVS tool the command mirrors.

use std::io::Write;

use proto::v1 as pb;
use serde_json::{Value, json};

use crate::cli::Format;

/// Prints one result in the chosen format; `text` is only rendered in text mode (and may be
/// empty for commands that, like ovs-vsctl's, print nothing on success).
pub fn emit(format: Format, value: Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?,
        Format::Text => {
            let t = text();
            if !t.is_empty() {
                write!(out, "{t}")?;
                if !t.ends_with('\n') {
                    writeln!(out)?;
                }
            }
        }
    }
    Ok(())
}

/// Like [`emit`], for a reply that is already JSON text whose key order is part of the
/// interface (trace, DESIGN §6): printed as is, on one line.
pub fn emit_raw(format: Format, json: &str, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            // Refuse to pass on something that is not JSON rather than break a script later.
            serde_json::from_str::<serde::de::IgnoredAny>(json)
                .map_err(|e| anyhow::anyhow!("vswitchd sent malformed JSON: {e}"))?;
            writeln!(std::io::stdout().lock(), "{json}")?;
            Ok(())
        }
        Format::Text => emit(format, Value::Null, text),
    }
}

/// Lowercase name of a port type.
pub fn port_type_name(t: i32) -> &'static str {
    match pb::PortType::try_from(t) {
        Ok(pb::PortType::Tap) => "tap",
        Ok(pb::PortType::Internal) => "internal",
        Ok(pb::PortType::Patch) => "patch",
        Ok(pb::PortType::Dummy) => "dummy",
        Ok(pb::PortType::Vxlan) => "vxlan",
        Ok(pb::PortType::Geneve) => "geneve",
        Ok(pb::PortType::Gre) => "gre",
        Ok(pb::PortType::System | pb::PortType::Unspecified) | Err(_) => "system",
    }
}

/// A port as JSON.
pub fn port_json(p: &pb::Port) -> Value {
    let options: serde_json::Map<String, Value> = sorted(&p.options)
        .into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "name": p.name,
        "type": port_type_name(p.r#type),
        "ofport": p.ofport,
        "tag": p.tag,
        "trunks": p.trunks,
        "options": options,
        "link": p.link_up.map(|up| if up { "up" } else { "down" }),
        "dp_port": p.dp_port,
    })
}

fn sorted(m: &std::collections::HashMap<String, String>) -> Vec<(&String, &String)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort();
    v
}

/// `ovs-appctl dpctl/show`-style text: every attached port by datapath number, with the
/// bridge and OpenFlow number it has there (the map between trace's `Datapath actions` or
/// `dump-megaflows` and the flow tables).
pub fn dpctl_text(bridges: &[pb::Bridge]) -> String {
    let mut ports: Vec<(u32, &pb::Bridge, &pb::Port)> = bridges
        .iter()
        .flat_map(|b| {
            b.ports
                .iter()
                .filter_map(move |p| p.dp_port.map(|no| (no, b, p)))
        })
        .collect();
    ports.sort_by_key(|(no, _, _)| *no);
    let mut s = String::from("vswitch@datapath:\n");
    for (no, b, p) in ports {
        s += &format!(
            "  port {no}: {} ({}; bridge {}, ofport {})\n",
            p.name,
            port_type_name(p.r#type),
            b.name,
            ofport_name(p.ofport)
        );
    }
    s
}

/// `ovs-vsctl show`-style text for a bridge.
pub fn bridge_text(b: &pb::Bridge) -> String {
    let mut s = format!("Bridge {}\n", b.name);
    if let Some(mode) = crate::fail_mode::name(b.fail_mode) {
        s += &format!("    fail_mode: {mode}\n");
    }
    for c in &b.controllers {
        s += &format!("    Controller \"{}\"\n", c.target);
        if c.is_connected {
            s += "        is_connected: true\n";
        }
        if !c.role.is_empty() {
            s += &format!("        role: {}\n", c.role);
        }
        s += &format!("        state: {}\n", c.state);
    }
    if b.fail_open {
        s += "    fail_open: true\n";
    }
    s += &format!("    flows: {}\n", b.flow_count);
    for m in &b.mirrors {
        s += &format!(
            "    Mirror {}\n        {}\n",
            m.name,
            crate::mirror::mirror_text(m)
        );
    }
    for p in &b.ports {
        s += &format!(
            "    Port {}\n        ofport: {}\n        type: {}\n",
            p.name,
            p.ofport,
            port_type_name(p.r#type)
        );
        if let Some(up) = p.link_up {
            s += &format!("        link: {}\n", if up { "up" } else { "down" });
        }
        if let Some(tag) = p.tag {
            s += &format!("        tag: {tag}\n");
        }
        if !p.trunks.is_empty() {
            let t: Vec<String> = p.trunks.iter().map(u32::to_string).collect();
            s += &format!("        trunks: [{}]\n", t.join(", "));
        }
        if !p.options.is_empty() {
            let o: Vec<String> = sorted(&p.options)
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            s += &format!("        options: {{{}}}\n", o.join(", "));
        }
    }
    s
}

/// Seconds with millisecond precision, as ovs-ofctl prints durations (`1.234s`).
pub fn secs(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// One `dump-flows` line in ovs-ofctl style.
pub fn flow_text(f: &pb::FlowEntry) -> String {
    flow_line(f, true)
}

/// `ovs-ofctl --no-stats dump-flows` style: no duration or counters, and the cookie and table
/// only when not zero, so the lines are what `add-flows`/`replace-flows` take back.
pub fn flow_text_no_stats(f: &pb::FlowEntry) -> String {
    flow_line(f, false)
}

fn flow_line(f: &pb::FlowEntry, stats: bool) -> String {
    let mut s = String::from(" ");
    if stats || f.cookie != 0 {
        s += &format!("cookie={:#x}, ", f.cookie);
    }
    if stats {
        s += &format!("duration={}, ", secs(f.duration_ms));
    }
    if stats || f.table != 0 {
        s += &format!("table={}, ", f.table);
    }
    if stats {
        s += &format!("n_packets={}, n_bytes={}, ", f.packets, f.bytes);
    }
    if f.idle_timeout != 0 {
        s += &format!("idle_timeout={}, ", f.idle_timeout);
    }
    if f.hard_timeout != 0 {
        s += &format!("hard_timeout={}, ", f.hard_timeout);
    }
    // ovs-ofctl leaves out the default priority.
    let mut m = Vec::new();
    if f.priority != 32768 {
        m.push(format!("priority={}", f.priority));
    }
    if !f.r#match.is_empty() {
        m.push(f.r#match.clone());
    }
    if !m.is_empty() {
        s += &m.join(",");
        s.push(' ');
    }
    s += &format!("actions={}", f.actions);
    s
}

/// A flow entry as JSON.
pub fn flow_json(f: &pb::FlowEntry) -> Value {
    json!({
        "table": f.table, "priority": f.priority, "cookie": format!("{:#x}", f.cookie),
        "duration_ms": f.duration_ms, "packets": f.packets, "bytes": f.bytes,
        "idle_timeout": f.idle_timeout, "hard_timeout": f.hard_timeout,
        "match": f.r#match, "actions": f.actions,
    })
}

/// An OpenFlow port number as ovs-ofctl prints it (`LOCAL` for the bridge's own port).
pub fn ofport_name(n: u32) -> String {
    match n {
        0xffff_fffe => "LOCAL".to_string(),
        n => n.to_string(),
    }
}

/// One port's counters, in `ovs-ofctl dump-ports` style.
pub fn port_stats_text(p: &pb::PortStats) -> String {
    let head = format!(
        "  port {:>3} ({}{}): ",
        ofport_name(p.ofport),
        p.name,
        if p.link_down { ", link down" } else { "" },
    );
    format!(
        "{head}rx pkts={}, bytes={}, drop={}, errs={}\n{:w$}tx pkts={}, bytes={}, drop={}, errs={}\n",
        p.rx_packets,
        p.rx_bytes,
        p.rx_dropped,
        p.rx_errors,
        "",
        p.tx_packets,
        p.tx_bytes,
        p.tx_dropped,
        p.tx_errors,
        w = head.len(),
    )
}

/// Port counters as JSON.
pub fn port_stats_json(p: &pb::PortStats) -> Value {
    json!({
        "name": p.name, "ofport": p.ofport,
        "rx_packets": p.rx_packets, "rx_bytes": p.rx_bytes, "rx_dropped": p.rx_dropped, "rx_errors": p.rx_errors,
        "tx_packets": p.tx_packets, "tx_bytes": p.tx_bytes, "tx_dropped": p.tx_dropped, "tx_errors": p.tx_errors,
        "link_down": p.link_down,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_ports_marks_ports_without_a_link() {
        let mut p = pb::PortStats {
            name: "vnet0".into(),
            ofport: 3,
            rx_packets: 1,
            ..Default::default()
        };
        let up = port_stats_text(&p);
        assert!(up.starts_with("  port   3 (vnet0): rx pkts=1,"), "{up}");
        p.link_down = true;
        let down = port_stats_text(&p);
        assert!(
            down.starts_with("  port   3 (vnet0, link down): rx pkts=1,"),
            "{down}"
        );
        // The tx line stays aligned under the rx counters.
        let col = |s: &str| s.lines().next().unwrap().find("rx").unwrap();
        let tx_col = |s: &str| s.lines().nth(1).unwrap().find("tx").unwrap();
        assert_eq!(col(&up), tx_col(&up));
        assert_eq!(col(&down), tx_col(&down));
        assert_eq!(port_stats_json(&p)["link_down"], json!(true));
    }

    #[test]
    fn dump_flows_line_like_ovs_ofctl() {
        let mut f = pb::FlowEntry {
            table: 1,
            priority: 100,
            cookie: 0x2a,
            duration_ms: 1234,
            packets: 5,
            bytes: 300,
            idle_timeout: 10,
            hard_timeout: 0,
            r#match: "tcp,tp_dst=80".into(),
            actions: "output:2".into(),
        };
        assert_eq!(
            flow_text(&f),
            " cookie=0x2a, duration=1.234s, table=1, n_packets=5, n_bytes=300, idle_timeout=10, priority=100,tcp,tp_dst=80 actions=output:2"
        );
        f.priority = 32768;
        f.r#match.clear();
        f.idle_timeout = 0;
        assert_eq!(
            flow_text(&f),
            " cookie=0x2a, duration=1.234s, table=1, n_packets=5, n_bytes=300, actions=output:2"
        );
        assert_eq!(flow_json(&f)["cookie"], "0x2a");
        assert_eq!(
            flow_text_no_stats(&f),
            " cookie=0x2a, table=1, actions=output:2"
        );
        f.cookie = 0;
        f.table = 0;
        f.priority = 0;
        f.hard_timeout = 5;
        assert_eq!(
            flow_text_no_stats(&f),
            " hard_timeout=5, priority=0 actions=output:2"
        );
    }

    #[test]
    fn show_text_and_port_json() {
        let p = pb::Port {
            name: "p1".into(),
            r#type: pb::PortType::Patch as i32,
            ofport: 3,
            tag: None,
            trunks: vec![10, 20],
            options: [("peer".to_owned(), "q1".to_owned())].into(),
            link_up: None,
            dp_port: None,
        };
        let mut b = pb::Bridge {
            name: "br0".into(),
            ports: vec![p.clone()],
            flow_count: 0,
            fail_mode: pb::FailMode::Unspecified as i32,
            controllers: Vec::new(),
            fail_open: false,
            mirrors: Vec::new(),
        };
        assert_eq!(
            bridge_text(&b),
            "Bridge br0\n    flows: 0\n    Port p1\n        ofport: 3\n        type: patch\n        trunks: [10, 20]\n        options: {peer=q1}\n"
        );
        assert_eq!(
            port_json(&p),
            json!({"name": "p1", "type": "patch", "ofport": 3, "tag": null, "trunks": [10, 20], "options": {"peer": "q1"}, "link": null, "dp_port": null})
        );
        // Patch ports have no datapath port: dpctl-show lists only attached ports.
        assert_eq!(dpctl_text(std::slice::from_ref(&b)), "vswitch@datapath:\n");
        let mut tap = p.clone();
        tap.name = "t1".into();
        tap.r#type = pb::PortType::Tap as i32;
        tap.dp_port = Some(7);
        let mut local = tap.clone();
        local.name = "br0".into();
        local.r#type = pb::PortType::Internal as i32;
        local.ofport = 0xffff_fffe;
        local.dp_port = Some(2);
        let with = pb::Bridge {
            ports: vec![tap, local],
            ..b.clone()
        };
        assert_eq!(
            dpctl_text(&[with]),
            "vswitch@datapath:\n  port 2: br0 (internal; bridge br0, ofport LOCAL)\n  port 7: t1 (tap; bridge br0, ofport 3)\n"
        );
        b.fail_mode = pb::FailMode::Secure as i32;
        b.ports[0].link_up = Some(false);
        assert_eq!(
            bridge_text(&b),
            "Bridge br0\n    fail_mode: secure\n    flows: 0\n    Port p1\n        ofport: 3\n        type: patch\n        link: down\n        trunks: [10, 20]\n        options: {peer=q1}\n"
        );
        assert_eq!(port_json(&b.ports[0])["link"], json!("down"));
        // Controllers print as ovs-vsctl show prints them, with their state.
        b.ports.clear();
        b.controllers = vec![pb::Controller {
            target: "tcp:127.0.0.1:6653".into(),
            is_connected: true,
            role: "master".into(),
            state: "ACTIVE".into(),
            ..Default::default()
        }];
        b.fail_open = true;
        assert_eq!(
            bridge_text(&b),
            "Bridge br0\n    fail_mode: secure\n    Controller \"tcp:127.0.0.1:6653\"\n        is_connected: true\n        role: master\n        state: ACTIVE\n    fail_open: true\n    flows: 0\n"
        );
    }
}

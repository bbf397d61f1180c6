//! Groups in ovs-ofctl syntax: `group_id=1,type=select,selection_method=hash,fields(ip_dst),
//! bucket=bucket_id:0,weight:2,actions=output:1,bucket=actions=output:2`.
//!
//! Parsing follows `parse_ofp_group_mod_str` (ovs-ofctl(8), "Group Syntax"): the buckets are
//! everything from the first `bucket=`, each up to the next; inside a bucket `weight`,
//! `watch_port`, `watch_group` and `bucket_id` are bucket settings and every other item is an
//! action (`actions=` is optional). A bucket's actions are not checked against a match (a
//! group has none); xlate skips a field write whose prerequisites the packet lacks. Buckets
//! without `bucket_id` are numbered by position, as OVS numbers them.
//!
//! [`format_group`] prints as `ovs-ofctl dump-groups` does, with bucket ids (OpenFlow 1.5's
//! form, which [`parse_group`] reads back).

use super::action_parse::parse_actions_unchecked;
use super::error::OfctlError;
use super::lex::{self, format_port, parse_port, split_items};
use super::{PortNames, format_actions};
use crate::ofproto::group::{
    BUCKET_MAX, Bucket, GroupSpec, GroupType, HashField, OFPG_ALL, OFPG_ANY, OFPG_MAX,
    SelectionMethod,
};
use crate::ofproto::ofpp;

/// Parses a group for add-group / mod-group.
pub fn parse_group(s: &str, names: &dyn PortNames) -> Result<GroupSpec, OfctlError> {
    let (head, buckets) = match find_bucket(s, 0) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let mut id = None;
    let mut kind = None;
    let mut method = SelectionMethod::Unset;
    let mut method_param = 0u64;
    let mut fields: Vec<(HashField, u128)> = Vec::new();
    for item in split_items(head)? {
        let v = item.value;
        match item.key {
            "group_id" => id = Some(parse_group_id(v)?),
            "type" => {
                kind = Some(match v {
                    "all" => GroupType::All,
                    "select" => GroupType::Select,
                    "indirect" => GroupType::Indirect,
                    "ff" | "fast_failover" => GroupType::FastFailover,
                    _ => {
                        return Err(OfctlError::bad_value(
                            "type",
                            v,
                            "a group type is all, select, indirect or ff",
                        ));
                    }
                })
            }
            "selection_method" => {
                method = match v {
                    "hash" => SelectionMethod::Hash,
                    "dp_hash" => SelectionMethod::DpHash,
                    _ => {
                        return Err(OfctlError::bad_value(
                            "selection_method",
                            v,
                            "the selection methods are hash and dp_hash",
                        ));
                    }
                }
            }
            "selection_method_param" => {
                method_param = lex::parse_uint_bits(item.key, v, 64)? as u64;
            }
            "fields" => fields = parse_fields(v, item.delim)?,
            k => {
                return Err(OfctlError::NotAllowed {
                    key: k.to_owned(),
                    why: "a group takes group_id, type, selection_method, \
                          selection_method_param, fields and bucket",
                });
            }
        }
    }
    let id = id.ok_or_else(|| OfctlError::syntax(s, "must specify a group_id"))?;
    if id == OFPG_ALL {
        return Err(OfctlError::bad_value(
            "group_id",
            "all",
            "only a delete takes every group",
        ));
    }
    let kind = kind.ok_or_else(|| OfctlError::syntax(s, "must specify a type"))?;
    if method != SelectionMethod::Hash && !fields.is_empty() {
        return Err(OfctlError::syntax(
            "fields",
            "fields may only be specified with \"selection_method=hash\"",
        ));
    }
    if method == SelectionMethod::Unset && method_param != 0 {
        return Err(OfctlError::syntax(
            "selection_method_param",
            "selection_method_param is only allowed with \"selection_method\"",
        ));
    }
    if method != SelectionMethod::Unset && kind != GroupType::Select {
        return Err(OfctlError::syntax(
            "selection_method",
            "only select groups have a selection method",
        ));
    }
    let mut out = Vec::new();
    let mut rest = buckets;
    while let Some(b) = rest {
        let body = &b["bucket=".len()..];
        let (this, next) = match find_bucket(body, 0) {
            Some(i) => (&body[..i], Some(&body[i..])),
            None => (body, None),
        };
        out.push(parse_bucket(this, kind, out.len() as u32, names)?);
        rest = next;
    }
    if kind == GroupType::Indirect && out.len() > 1 {
        return Err(OfctlError::syntax(
            s,
            "Indirect groups can have at most one bucket.",
        ));
    }
    for (i, b) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.id == b.id) {
            return Err(OfctlError::bad_value(
                "bucket_id",
                &b.id.to_string(),
                "two buckets have this id",
            ));
        }
    }
    Ok(GroupSpec {
        id,
        kind,
        method,
        method_param,
        fields,
        buckets: out,
    })
}

/// Parses what del-groups / dump-groups select: empty or `group_id=all` is every group
/// ([`OFPG_ALL`]), else `group_id=N`.
pub fn parse_group_selector(s: &str) -> Result<u32, OfctlError> {
    let mut id = OFPG_ALL;
    for item in split_items(s)? {
        match item.key {
            "group_id" => id = parse_group_id(item.value)?,
            k => {
                return Err(OfctlError::NotAllowed {
                    key: k.to_owned(),
                    why: "groups are selected by group_id only",
                });
            }
        }
    }
    Ok(id)
}

fn parse_group_id(v: &str) -> Result<u32, OfctlError> {
    if v == "all" {
        return Ok(OFPG_ALL);
    }
    let id = lex::parse_uint_bits("group_id", v, 32)? as u32;
    if id > OFPG_MAX && id != OFPG_ALL {
        return Err(OfctlError::bad_value(
            "group_id",
            v,
            "groups are numbered 0..4294967040",
        ));
    }
    Ok(id)
}

/// Index of the next `bucket=` at an item boundary at or after `from`.
fn find_bucket(s: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = s[at..].find("bucket=").map(|i| i + at) {
        if i == 0 || s[..i].ends_with([',', ' ', '\t']) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

fn parse_bucket(
    s: &str,
    kind: GroupType,
    index: u32,
    names: &dyn PortNames,
) -> Result<Bucket, OfctlError> {
    let mut b = Bucket {
        id: index,
        weight: u16::from(kind == GroupType::Select),
        watch_port: ofpp::ANY,
        watch_group: OFPG_ANY,
        actions: Vec::new(),
    };
    let mut weight_given = false;
    let mut actions: Vec<String> = Vec::new();
    for item in split_items(s)? {
        let v = item.value;
        match item.key.to_ascii_lowercase().as_str() {
            "weight" => {
                b.weight = lex::parse_uint_bits("weight", v, 16)? as u16;
                weight_given = true;
            }
            "watch_port" => {
                let p =
                    parse_port(v, names).ok_or_else(|| OfctlError::UnknownPort(v.to_owned()))?;
                if p >= ofpp::MAX && p != ofpp::ANY && p != ofpp::CONTROLLER {
                    return Err(OfctlError::bad_value("watch_port", v, "invalid watch_port"));
                }
                b.watch_port = p;
            }
            "watch_group" => {
                let g = lex::parse_uint_bits("watch_group", v, 32)? as u32;
                if g > OFPG_MAX {
                    return Err(OfctlError::bad_value(
                        "watch_group",
                        v,
                        "invalid watch_group",
                    ));
                }
                b.watch_group = g;
            }
            "bucket_id" => {
                let id = lex::parse_uint_bits("bucket_id", v, 32)? as u32;
                if id > BUCKET_MAX {
                    return Err(OfctlError::bad_value("bucket_id", v, "invalid bucket_id"));
                }
                b.id = id;
            }
            "action" | "actions" => actions.push(v.to_owned()),
            _ => actions.push(match item.delim {
                None => item.key.to_owned(),
                Some('(') => format!("{}({v})", item.key),
                Some(d) => format!("{}{d}{v}", item.key),
            }),
        }
    }
    if actions.is_empty() {
        return Err(OfctlError::syntax(s, "bucket must specify actions"));
    }
    if kind == GroupType::FastFailover && b.watch_port == ofpp::ANY && b.watch_group == OFPG_ANY {
        return Err(OfctlError::syntax(
            s,
            "fast failover bucket requires watch_port or watch_group",
        ));
    }
    if kind != GroupType::Select && weight_given && b.weight != 0 {
        return Err(OfctlError::syntax(
            s,
            "Only select groups can have bucket weights.",
        ));
    }
    b.actions = parse_actions_unchecked(&actions.join(","), names)?;
    Ok(b)
}

fn parse_fields(v: &str, delim: Option<char>) -> Result<Vec<(HashField, u128)>, OfctlError> {
    let mut out: Vec<(HashField, u128)> = Vec::new();
    let items = if delim == Some('(') {
        split_items(v)?
    } else {
        // `fields=NAME`: one field.
        vec![lex::Item {
            key: v,
            value: "",
            delim: None,
        }]
    };
    for item in items {
        let f = HashField::from_name(item.key).ok_or_else(|| {
            OfctlError::bad_value(
                "fields",
                item.key,
                "vswitch hashes eth_src, eth_dst, eth_type, ip_src, ip_dst, ipv6_src, \
                 ipv6_dst, nw_proto and the tcp/udp/sctp ports",
            )
        })?;
        if out.iter().any(|(g, _)| *g == f) {
            return Err(OfctlError::bad_value("fields", item.key, "duplicate field"));
        }
        let mask = if item.value.is_empty() {
            f.full_mask()
        } else {
            parse_field_mask(f, item.value)?
        };
        if mask == 0 {
            return Err(OfctlError::bad_value(
                item.key,
                item.value,
                "values are wildcards here and must not be all-zeros",
            ));
        }
        out.push((f, mask));
    }
    out.sort_by_key(|(f, _)| *f);
    Ok(out)
}

fn parse_field_mask(f: HashField, v: &str) -> Result<u128, OfctlError> {
    let bad = || OfctlError::bad_value(f.name(), v, "not a mask for this field");
    Ok(match f {
        HashField::EthSrc | HashField::EthDst => lex::parse_mac(v).ok_or_else(bad)?,
        HashField::IpSrc | HashField::IpDst => u128::from(u32::from(
            v.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?,
        )),
        HashField::Ipv6Src | HashField::Ipv6Dst => {
            u128::from(v.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?)
        }
        _ => lex::parse_uint_bits(f.name(), v, 8 * f.n_bytes() as u32)?,
    })
}

fn format_field_mask(f: HashField, m: u128) -> String {
    match f {
        HashField::EthSrc | HashField::EthDst => lex::format_mac(m),
        HashField::IpSrc | HashField::IpDst => std::net::Ipv4Addr::from(m as u32).to_string(),
        HashField::Ipv6Src | HashField::Ipv6Dst => std::net::Ipv6Addr::from(m).to_string(),
        HashField::EthType => format!("{m:#x}"),
        _ => m.to_string(),
    }
}

/// Prints a group as `ovs-ofctl dump-groups` does (`bucket_id`s included when `bucket_ids`,
/// as OpenFlow 1.5 and 1.0 print them).
pub fn format_group(g: &GroupSpec, names: &dyn PortNames, bucket_ids: bool) -> String {
    let mut s = format!("group_id={},type={}", g.id, g.kind.name());
    if g.method != SelectionMethod::Unset {
        s.push_str(&format!(",selection_method={}", g.method.name()));
        if g.method_param != 0 {
            s.push_str(&format!(",selection_method_param={}", g.method_param));
        }
        let fields: Vec<String> = g
            .fields
            .iter()
            .map(|(f, m)| {
                if *m == f.full_mask() {
                    f.name().to_owned()
                } else {
                    format!("{}={}", f.name(), format_field_mask(*f, *m))
                }
            })
            .collect();
        match fields.len() {
            0 => {}
            1 => s.push_str(&format!(",fields={}", fields[0])),
            _ => s.push_str(&format!(",fields({})", fields.join(","))),
        }
    }
    for b in &g.buckets {
        s.push_str(",bucket=");
        if bucket_ids {
            s.push_str(&format!("bucket_id:{},", b.id));
        }
        if b.weight != u16::from(g.kind == GroupType::Select) {
            s.push_str(&format!("weight:{},", b.weight));
        }
        if b.watch_port != ofpp::ANY {
            s.push_str(&format!("watch_port:{},", format_port(b.watch_port, names)));
        }
        if b.watch_group != OFPG_ANY {
            s.push_str(&format!("watch_group:{},", b.watch_group));
        }
        s.push_str("actions=");
        s.push_str(&format_actions(&b.actions, names));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::NoNames;
    use crate::ofproto::OfAction;

    #[test]
    fn groups_parse_and_print_as_ovs_ofctl() {
        // Each pair: input, then what `ovs-ofctl -O OpenFlow15 parse-group` prints for it.
        let cases = [
            (
                "group_id=1,type=select,bucket=mod_nw_src:1.2.3.4,output:1,bucket=weight:3,actions=output:2",
                "group_id=1,type=select,bucket=bucket_id:0,actions=mod_nw_src:1.2.3.4,output:1,bucket=bucket_id:1,weight:3,actions=output:2",
            ),
            (
                "group_id=1,type=select,selection_method=hash,fields(eth_dst,nw_dst=255.255.0.0,tcp_src,ipv6_src),bucket=output:1,bucket=output:2",
                "group_id=1,type=select,selection_method=hash,fields(eth_dst,ip_dst=255.255.0.0,ipv6_src,tcp_src),bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2",
            ),
            (
                "group_id=1,type=select,selection_method=hash,fields=ip_dst,bucket=output:1,bucket=output:2",
                "group_id=1,type=select,selection_method=hash,fields=ip_dst,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2",
            ),
            (
                "group_id=1,type=select,selection_method=dp_hash,selection_method_param=0x100000000,bucket=output:1,bucket=output:2",
                "group_id=1,type=select,selection_method=dp_hash,selection_method_param=4294967296,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2",
            ),
            (
                "group_id=1,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,actions=output:2",
                "group_id=1,type=ff,bucket=bucket_id:0,watch_port:1,actions=output:1,bucket=bucket_id:1,watch_port:2,actions=output:2",
            ),
            (
                "group_id=7,type=indirect,bucket=bucket_id:5,actions=group:1",
                "group_id=7,type=indirect,bucket=bucket_id:5,actions=group:1",
            ),
            ("group_id=3,type=all", "group_id=3,type=all"),
        ];
        for (input, want) in cases {
            let g = parse_group(input, &NoNames).unwrap_or_else(|e| panic!("{input}: {e}"));
            let printed = format_group(&g, &NoNames, true);
            assert_eq!(printed, want, "{input}");
            assert_eq!(parse_group(&printed, &NoNames).unwrap(), g, "{printed}");
        }
        let g = parse_group(
            "group_id=1,type=all,bucket=output:1,bucket=output:2",
            &NoNames,
        )
        .unwrap();
        assert_eq!(g.buckets[1].actions, vec![OfAction::Output(2)]);
        assert_eq!(
            format_group(&g, &NoNames, false),
            "group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2"
        );
    }

    #[test]
    fn bad_groups_are_refused_with_ovs_reasons() {
        for (input, why) in [
            ("type=all,bucket=output:1", "must specify a group_id"),
            ("group_id=1,bucket=output:1", "must specify a type"),
            (
                "group_id=1,type=indirect,bucket=output:1,bucket=output:2",
                "at most one bucket",
            ),
            (
                "group_id=1,type=all,bucket=weight:2,output:1",
                "Only select groups",
            ),
            ("group_id=1,type=ff,bucket=output:1", "requires watch_port"),
            (
                "group_id=1,type=select,fields=ip_dst,bucket=output:1",
                "fields may only",
            ),
            (
                "group_id=1,type=select,bucket=weight:1",
                "must specify actions",
            ),
            ("group_id=1,type=foo", "group type"),
            (
                "group_id=1,type=all,bucket=output:1,frobnicate:3",
                "unknown action",
            ),
            ("group_id=1,type=all,priority=3", "not allowed"),
        ] {
            let e = parse_group(input, &NoNames).unwrap_err().to_string();
            assert!(e.contains(why), "{input}: {e}");
        }
        assert_eq!(parse_group_selector("").unwrap(), OFPG_ALL);
        assert_eq!(parse_group_selector("group_id=5").unwrap(), 5);
    }
}

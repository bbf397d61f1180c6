"""Datapath (ODP) syntax, as OVS's tests write packets and dump megaflows, read into the
flow syntax ofproto/trace and vswitch use: `in_port(1),eth(src=..),eth_type(0x0800),
ipv4(src=..,proto=1,..)` becomes `in_port=1,dl_src=..,dl_type=0x0800,nw_src=..,nw_proto=1`.
Anything not understood raises ValueError; nothing is guessed.
"""

import re


def odp_to_flow(odp):
    """Converts a datapath-syntax packet (`in_port(1),eth(...),eth_type(0x0800),ipv4(...)`) to
    ofproto/trace flow syntax; raises ValueError on anything not understood."""
    items = []
    s = odp.strip()

    def attrs(body):
        out = {}
        for part in split_top(body):
            k, _, v = part.partition("=")
            out[k.strip()] = v.strip()
        return out

    def walk(s):
        i = 0
        while i < len(s):
            m = re.match(r"\s*,?\s*([a-z_0-9]+)\(", s[i:])
            if not m:
                if s[i:].strip(" ,"):
                    raise ValueError("odp syntax near %r" % s[i:])
                return
            name = m.group(1)
            start = i + m.end() - 1
            depth = 0
            j = start
            while True:
                if s[j] == "(":
                    depth += 1
                elif s[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            body = s[start + 1 : j]
            i = j + 1
            yield_attr(name, body)


    def yield_attr(name, body):
        if name == "in_port":
            items.append("in_port=" + body)
        elif name in ("recirc_id", "dp_hash", "skb_priority") and body in ("0", "0x0"):
            pass
        elif name == "skb_mark":
            items.append("pkt_mark=" + body)
        elif name == "eth":
            a = attrs(body)
            for k, f in (("src", "dl_src"), ("dst", "dl_dst")):
                if k in a:
                    items.append("%s=%s" % (f, a.pop(k)))
            if a:
                raise ValueError("eth(%s)" % body)
        elif name == "eth_type":
            if body not in ("0x8100", "0x88a8"):
                items.append("dl_type=" + body)
        elif name == "vlan":
            a = attrs(body)
            if "vid" in a:
                items.append("dl_vlan=" + a.pop("vid"))
            if "pcp" in a:
                items.append("dl_vlan_pcp=" + a.pop("pcp"))
            a.pop("cfi", None)
            if a:
                raise ValueError("vlan(%s)" % body)
        elif name == "encap":
            if any(i.startswith("dl_vlan") for i in items) and sum(
                    1 for i in items if i.startswith("dl_vlan=")) > 1:
                raise ValueError("double VLAN")
            walk(body)
        elif name in ("ipv4", "ipv6"):
            a = attrs(body)
            names = {"ipv4": (("src", "nw_src"), ("dst", "nw_dst")),
                     "ipv6": (("src", "ipv6_src"), ("dst", "ipv6_dst"), ("label", "ipv6_label"))}
            for k, f in names[name]:
                if k in a:
                    items.append("%s=%s" % (f, a.pop(k)))
            if "proto" in a:
                items.append("nw_proto=" + a.pop("proto"))
            tos = a.pop("tos", None) or a.pop("tclass", None)
            if tos is not None:
                t = int(tos, 0)
                items.append("nw_tos=%d" % (t & 0xFC))
                items.append("nw_ecn=%d" % (t & 3))
            ttl = a.pop("ttl", None) or a.pop("hlimit", None)
            if ttl is not None:
                items.append("nw_ttl=" + ttl)
            if "frag" in a:
                items.append("nw_frag=" + a.pop("frag"))
            if a:
                raise ValueError("%s(%s)" % (name, body))
        elif name in ("tcp", "udp", "sctp"):
            a = attrs(body)
            for k, f in (("src", "tp_src"), ("dst", "tp_dst")):
                if k in a:
                    items.append("%s=%s" % (f, a.pop(k)))
            if a:
                raise ValueError("%s(%s)" % (name, body))
        elif name == "tcp_flags":
            items.append("tcp_flags=" + body.replace("|", "+") if body else "tcp_flags=0")
        elif name in ("icmp", "icmpv6"):
            a = attrs(body)
            p = "icmp" if name == "icmp" else "icmpv6"
            for k in ("type", "code"):
                if k in a:
                    items.append("%s_%s=%s" % (p, k, a.pop(k)))
            if a:
                raise ValueError("%s(%s)" % (name, body))
        elif name == "nd":
            a = attrs(body)
            for k, f in (("target", "nd_target"), ("sll", "nd_sll"), ("tll", "nd_tll")):
                if k in a:
                    items.append("%s=%s" % (f, a.pop(k)))
            if a:
                raise ValueError("nd(%s)" % body)
        elif name == "arp":
            a = attrs(body)
            for k, f in (("sip", "arp_spa"), ("tip", "arp_tpa"), ("op", "arp_op"),
                         ("sha", "arp_sha"), ("tha", "arp_tha")):
                if k in a:
                    items.append("%s=%s" % (f, a.pop(k)))
            if a:
                raise ValueError("arp(%s)" % body)
        else:
            raise ValueError("datapath attribute %s(%s)" % (name, body))

    walk(s)
    return ",".join(items)


def split_top(s):
    parts, cur, depth = [], [], 0
    for c in s:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if cur:
        parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def odp_megaflow(odp):
    """A datapath megaflow (`recirc_id(0),in_port(1),eth_type(0x0800),ipv4(src=A/M,frag=no)`)
    as flow-syntax match items (`dl_type=0x0800`, `nw_src=A/M`, ...), unordered."""
    items = []
    for part in split_top(odp):
        m = re.match(r"^\s*(\w+)\((.*)\)\s*$", part, re.S)
        if not m:
            raise ValueError(part)
        name, body = m.group(1), m.group(2)
        attrs = []
        for a in split_top(body):
            k, _, v = a.partition("=")
            attrs.append((k.strip(), v.strip()))
        if name in ("recirc_id", "in_port", "dp_hash", "skb_priority", "skb_mark", "ct_state",
                    "ct_zone", "ct_mark", "ct_label"):
            items.append("%s=%s" % ({"skb_mark": "pkt_mark"}.get(name, name), body))
        elif name == "packet_type":
            if body != "ns=0,id=0":
                raise ValueError(part)
        elif name == "eth_type":
            items.append("dl_type=" + body)
        else:
            table = {
                "eth": {"src": "dl_src", "dst": "dl_dst"},
                "ipv4": {"src": "nw_src", "dst": "nw_dst", "proto": "nw_proto", "tos": "tos",
                         "ttl": "nw_ttl", "frag": "nw_frag"},
                "ipv6": {"src": "ipv6_src", "dst": "ipv6_dst", "label": "ipv6_label",
                         "proto": "nw_proto", "tclass": "tos", "hlimit": "nw_ttl",
                         "frag": "nw_frag"},
                "tcp": {"src": "tp_src", "dst": "tp_dst"},
                "udp": {"src": "tp_src", "dst": "tp_dst"},
                "sctp": {"src": "tp_src", "dst": "tp_dst"},
                "icmp": {"type": "tp_src", "code": "tp_dst"},
                "icmpv6": {"type": "tp_src", "code": "tp_dst"},
                "arp": {"sip": "arp_spa", "tip": "arp_tpa", "op": "arp_op", "sha": "arp_sha",
                        "tha": "arp_tha"},
                "nd": {"target": "nd_target", "sll": "nd_sll", "tll": "nd_tll"},
            }.get(name)
            if table is None:
                raise ValueError("datapath attribute %s" % name)
            for k, v in attrs:
                if k not in table:
                    raise ValueError("%s(%s=)" % (name, k))
                if table[k] == "tos":
                    val, _, mask = v.partition("/")
                    val, mask = int(val, 0), int(mask, 0) if mask else 0xFF
                    if mask & 0xFC:
                        items.append("nw_tos=%d/%d" % (val & 0xFC, mask & 0xFC))
                    if mask & 3:
                        items.append("nw_ecn=%d/%d" % (val & 3, mask & 3))
                    continue
                items.append("%s=%s" % (table[k], v))
    return items

#!/usr/bin/env python3
"""Writes the seed corpora of the structured fuzz targets (conntrack_seq, flow_table,
action_exec) and the raw frames of offload_complete.

Those targets decode their input with `arbitrary`, so a seed is the byte string that decodes to
a chosen value. This script mirrors arbitrary 1.x's decoding (derive 1.5):
- integers: little-endian, `size_of` bytes (missing bytes read as zero);
- bool: one byte, low bit;
- Option<T>: a bool, then T when true;
- Vec<T> (also the take-rest form at the top level): before each element a bool "one more",
  ended by a false one;
- enum: a u32 `x` picks variant `(x * count) >> 32`, then the variant's fields in order;
- struct and tuple: fields in order.

Each helper below is named after the Rust type it encodes and takes the same fields, so a seed
reads like the value it stands for. After changing a target's types, update the helpers,
rerun `fuzz/seeds.py`, and check a few seeds decode as intended:
`cargo fuzz fmt TARGET fuzz/corpus/TARGET/SEED`.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


class Enc:
    def __init__(self):
        self.out = bytearray()

    def u8(self, v):
        self.out += struct.pack("<B", v)

    def u16(self, v):
        self.out += struct.pack("<H", v)

    def i16(self, v):
        self.out += struct.pack("<h", v)

    def u32(self, v):
        self.out += struct.pack("<I", v)

    def u64(self, v):
        self.out += struct.pack("<Q", v)

    def u128(self, v):
        self.out += v.to_bytes(16, "little")

    def bool(self, v):
        self.u8(1 if v else 0)

    def variant(self, index, count):
        assert 0 <= index < count
        # The smallest x with (x * count) >> 32 == index.
        self.u32(-(-(index << 32) // count))

    def option(self, value, encode):
        self.bool(value is not None)
        if value is not None:
            encode(value)

    def vec(self, items, encode):
        for item in items:
            self.bool(True)
            encode(item)
        self.bool(False)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# --- conntrack_seq -------------------------------------------------------------------------
# Host indices: v4 0=10.0.0.1 1=10.0.0.2 2=192.168.1.1 3=172.16.0.9; v6 fd00::1, ::2, ::99,
# ::fe80. Port indices: 0=1024 1=80 2=443 3=53 4=0 5=5000.

def tuple_(v6, src, dst, sport, dport):
    return lambda e: (e.bool(v6), e.u8(src), e.u8(dst), e.u8(sport), e.u8(dport))


def new(*t):
    t = tuple_(*t)
    return lambda e: (e.variant(0, 3), t(e))


def same(i):
    return lambda e: (e.variant(1, 3), e.u8(i))


def reverse(i):
    return lambda e: (e.variant(2, 3), e.u8(i))


FLAGS = ["syn", "synack", "ack", "pshack", "finack", "rst", "rstack"]


def flags(name):
    return lambda e: e.variant(FLAGS.index(name), 8)


def nxt(delta=0):
    return lambda e: (e.variant(0, 2), e.i16(delta))


def raw_seq(v):
    return lambda e: (e.variant(1, 2), e.u32(v))


def tcp(fl, seq=None, ack=None, window=65535, wscale=None, payload=0):
    seq, ack = seq or nxt(), ack or nxt()

    def enc(e):
        e.variant(0, 5)
        flags(fl)(e)
        seq(e)
        ack(e)
        e.u16(window)
        e.option(wscale, e.u8)
        e.u8(payload)

    return enc


def udp(payload=16):
    return lambda e: (e.variant(1, 5), e.u8(payload))


def echo(reply, ident=7):
    return lambda e: (e.variant(2, 5), e.bool(reply), e.u8(ident))


def icmp_error(quoted, time_exceeded=False, code=3, quoted_proto=1, truncate=0):
    # quoted_proto indexes [tcp, udp, icmp, icmpv6, gre].
    def enc(e):
        e.variant(3, 5)
        e.bool(time_exceeded)
        e.u8(code)
        quoted(e)
        e.u8(quoted_proto)
        e.u8(truncate)

    return enc


def other(proto, payload=8):
    return lambda e: (e.variant(4, 5), e.u8(proto), e.u8(payload))


def pkt(tuple_ref, l4, fragment=False, hop_by_hop=False, ttl=64):
    return lambda e: (tuple_ref(e), l4(e), e.u8(255 if fragment else 0), e.bool(hop_by_hop),
                      e.u8(ttl))


def nat_existing(e):
    e.variant(0, 3)


def snat(v6=False, wide=False, ports=False):
    return lambda e: (e.variant(1, 3), e.bool(v6), e.bool(wide), e.bool(ports))


def dnat(v6=False, ports=False):
    return lambda e: (e.variant(2, 3), e.bool(v6), e.bool(ports))


def ct(commit=False, zone=0, nat=None, mark=None, label=None):
    def enc(e):
        e.bool(commit)
        e.u8(zone)
        e.option(nat, lambda n: n(e))
        e.option(mark, lambda m: (e.u32(m[0]), e.u32(m[1])))
        e.option(label, lambda lb: (e.u128(lb[0]), e.u128(lb[1])))

    return enc


def op_packet(p, c=None, dt=1):
    c = c or ct()
    return lambda e: (e.variant(0, 4), e.u16(dt), p(e), c(e))


def op_raw(data, l3=("eth",), c=None, dt=1):
    c = c or ct()

    def enc(e):
        e.variant(1, 4)
        e.u16(dt)
        if l3[0] == "eth":
            e.variant(0, 3)
        elif l3[0] == "at":
            e.variant(1, 3)
            e.u16(l3[1])
        else:
            e.variant(2, 3)
        e.vec(list(data), e.u8)
        c(e)

    return enc


def op_sweep(dt):
    return lambda e: (e.variant(2, 4), e.u16(dt))


def op_flush(zone=None):
    return lambda e: (e.variant(3, 4), e.option(zone, e.u8))


def conntrack_input(ops, limit=15, zone1_limit=None, default_zone_limit=None):
    e = Enc()
    e.u8(limit)
    e.option(zone1_limit, e.u8)
    e.option(default_zone_limit, e.u8)
    e.vec(ops, lambda op: op(e))
    return e.out


def conntrack_seeds():
    commit = ct(commit=True)
    # A client 10.0.0.1:1024 -> 10.0.0.2:80: handshake, data both ways, orderly close. The
    # first packet is history entry 0; `reverse(0)` is the server's side.
    client, server = same(0), reverse(0)
    yield "tcp_handshake_close", conntrack_input([
        op_packet(pkt(new(False, 0, 1, 0, 1), tcp("syn", wscale=7)), commit),
        op_packet(pkt(server, tcp("synack", wscale=7)), commit),
        op_packet(pkt(client, tcp("ack")), commit),
        op_packet(pkt(client, tcp("pshack", payload=100)), commit),
        op_packet(pkt(server, tcp("pshack", payload=200)), commit),
        op_packet(pkt(client, tcp("ack")), commit),
        op_packet(pkt(client, tcp("finack")), commit),
        op_packet(pkt(server, tcp("finack")), commit),
        op_packet(pkt(client, tcp("ack")), commit),
        op_sweep(200),
    ])
    # The same over IPv6 with a hop-by-hop header, then a segment far outside the window
    # (invalid), a reset acknowledging what the client really sent (closes), and a new SYN.
    yield "tcp6_hbh_window_rst", conntrack_input([
        op_packet(pkt(new(True, 0, 1, 0, 2), tcp("syn", wscale=2), hop_by_hop=True), commit),
        op_packet(pkt(server, tcp("synack", window=1000, wscale=2), hop_by_hop=True), commit),
        op_packet(pkt(client, tcp("ack")), commit),
        op_packet(pkt(client, tcp("pshack", seq=raw_seq(0x8000_0000), payload=50)), commit),
        op_packet(pkt(server, tcp("rstack", ack=raw_seq(1001))), commit),
        op_packet(pkt(client, tcp("syn", seq=raw_seq(7000))), ct()),
    ])
    # UDP from three clients through a source NAT to 192.168.1.1 with a two-port pool: the
    # third runs out. The first gets port 5000; its reply comes back to it (un-NATed), a
    # reply to the untranslated address does not match.
    sn = ct(commit=True, nat=snat(ports=True))
    yield "udp_snat_pool", conntrack_input([
        op_packet(pkt(new(False, 0, 3, 0, 3), udp()), sn),
        op_packet(pkt(new(False, 1, 3, 0, 3), udp()), sn),
        op_packet(pkt(new(False, 3, 3, 2, 3), udp()), sn),
        op_packet(pkt(new(False, 3, 2, 3, 5), udp(40)), ct(nat=nat_existing)),
        op_packet(pkt(reverse(0), udp(40)), ct(nat=nat_existing)),
        op_packet(pkt(same(0), udp()), ct(nat=nat_existing)),
    ])
    # DNAT of TCP 192.168.1.1:1024 -> 172.16.0.9:443 to 10.0.0.2:80 with a mark and label;
    # the server answers from 10.0.0.2:80 (its sequence numbers are a new direction to the
    # seed's tracker, hence the raw acks); expiry by long sweeps, then the client starts over.
    dn = ct(commit=True, zone=2, nat=dnat(ports=True), mark=(0x10, 0xff),
            label=(1 << 100, 1 << 100))
    yield "tcp_dnat_expiry", conntrack_input([
        op_packet(pkt(new(False, 2, 3, 0, 2), tcp("syn")), dn),
        op_packet(pkt(new(False, 1, 2, 1, 0), tcp("synack", ack=raw_seq(1001))),
                  ct(zone=2, nat=nat_existing)),
        op_packet(pkt(same(0), tcp("ack", ack=raw_seq(1001))), ct(zone=2, nat=nat_existing)),
        # Established TCP lives a day; each sweep advances the clock about 18 hours.
        op_sweep(65535),
        op_sweep(65535),
        op_packet(pkt(same(0), tcp("ack")), ct(zone=2, nat=nat_existing)),
        op_packet(pkt(same(0), tcp("syn")), dn),
    ])
    # Ping in zone 1 and its reply; a UDP flow and an ICMP error quoting it (related); an
    # error quoting it truncated (invalid); the same over IPv6.
    z1 = ct(commit=True, zone=1)
    yield "icmp_echo_related", conntrack_input([
        op_packet(pkt(new(False, 0, 1, 4, 4), echo(False)), z1),
        op_packet(pkt(reverse(0), echo(True)), z1),
        op_packet(pkt(new(False, 0, 1, 0, 3), udp()), z1),
        op_packet(pkt(new(False, 2, 0, 0, 0), icmp_error(same(2), quoted_proto=1)), z1),
        op_packet(pkt(new(False, 2, 0, 0, 0), icmp_error(same(2), time_exceeded=True, code=0,
                                                         quoted_proto=1, truncate=10)), z1),
        op_packet(pkt(new(True, 0, 1, 4, 4), echo(False, 9)), z1),
        op_packet(pkt(reverse(5), echo(True, 9)), z1),
        op_packet(pkt(new(True, 0, 1, 0, 3), udp()), z1),
        op_packet(pkt(new(True, 2, 0, 0, 0), icmp_error(same(7), quoted_proto=1)), z1),
    ])
    # Zone limits: zone 1 holds 2, other zones 3, the table 5; new connections past them are
    # refused; flushing zone 1 makes room.
    z1 = ct(commit=True, zone=1)
    z0 = ct(commit=True, zone=0)
    yield "zone_limits_flush", conntrack_input([
        op_packet(pkt(new(False, 0, 1, 0, 1), udp()), z1),
        op_packet(pkt(new(False, 0, 1, 1, 1), udp()), z1),
        op_packet(pkt(new(False, 0, 1, 2, 1), udp()), z1),
        op_packet(pkt(new(False, 1, 0, 0, 1), udp()), z0),
        op_packet(pkt(new(False, 1, 0, 1, 1), udp()), z0),
        op_packet(pkt(new(False, 1, 0, 2, 1), udp()), z0),
        op_packet(pkt(new(False, 1, 0, 3, 1), udp()), z0),
        op_flush(1),
        op_packet(pkt(new(False, 0, 1, 2, 1), udp()), z1),
        op_flush(None),
    ], limit=4, zone1_limit=2, default_zone_limit=3)
    # What conntrack must mark invalid: fragments (v4, v6), a GRE packet, a runt given as raw
    # bytes, a frame whose L3 offset lies past its end, and one without L3.
    ipv4_runt = bytes([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0, 0x45, 0, 0, 40, 0, 1])
    yield "fragments_raw", conntrack_input([
        op_packet(pkt(new(False, 0, 1, 0, 3), udp(), fragment=True), commit),
        op_packet(pkt(new(True, 0, 1, 0, 3), udp(), fragment=True), commit),
        op_packet(pkt(new(False, 0, 1, 0, 0), other(47)), commit),
        op_raw(ipv4_runt, ("eth",), commit),
        op_raw(ipv4_runt, ("at", 40), commit),
        op_raw(ipv4_runt, ("absent",), commit),
    ])


# --- flow_table ----------------------------------------------------------------------------
# Value indices: IPS 0=10.0.0.1 1=10.1.2.3 2=192.168.0.1 3=10.0.0.0; PORTS 0=22 1=80 2=443
# 3=5201; PREFIXES 0=/32 1=/24 2=/16 3=/8 4=/0; PRIORITIES 0=0 1=100 2=32768 3=65535;
# PROTOS 0="" 1=ip 2=tcp 3=udp 4=arp 5=ipv6 6=tcp6 7=icmp 8=sctp.

def f_in_port(p):
    return lambda e: (e.variant(0, 11), e.u8(p))


def f_nw_src(a, plen):
    return lambda e: (e.variant(1, 11), e.u8(a), e.u8(plen))


def f_nw_dst(a, plen):
    return lambda e: (e.variant(2, 11), e.u8(a), e.u8(plen))


def f_tp_dst(p):
    return lambda e: (e.variant(3, 11), e.u8(p))


def f_tp_src_masked(v, m):
    return lambda e: (e.variant(4, 11), e.u16(v), e.u16(m))


def f_reg0(v, m):
    return lambda e: (e.variant(5, 11), e.u8(v), e.u8(m))


def f_metadata(v):
    return lambda e: (e.variant(6, 11), e.u8(v))


def f_dl_vlan(v):
    return lambda e: (e.variant(7, 11), e.u8(v))


def f_dl_src(v):
    return lambda e: (e.variant(8, 11), e.u8(v))


def f_ct_state(set_bits, clear_bits):
    # Bits: 0 new, 1 est, 2 rel, 3 rpl, 4 inv, 5 trk.
    return lambda e: (e.variant(9, 11), e.u8(set_bits), e.u8(clear_bits))


def f_nw_tos(v):
    return lambda e: (e.variant(10, 11), e.u8(v))


def a_output(p):
    return lambda e: (e.variant(0, 9), e.u8(p))


def a_drop(e):
    e.variant(1, 9)


def a_normal(e):
    e.variant(2, 9)


def a_goto(t):
    return lambda e: (e.variant(3, 9), e.u8(t))


def a_resubmit(t):
    return lambda e: (e.variant(4, 9), e.u8(t))


def a_set_reg0(v):
    return lambda e: (e.variant(5, 9), e.u8(v))


def a_mod_nw_tos(v):
    return lambda e: (e.variant(6, 9), e.u8(v))


def a_ct(commit, table):
    return lambda e: (e.variant(7, 9), e.bool(commit), e.u8(table))


def a_dec_ttl(e):
    e.variant(8, 9)


def flow(fields=(), actions=(), table=None, priority=None, cookie=None, idle=None, hard=None,
         out_port=None, proto=0):
    def enc(e):
        e.option(table, e.u8)
        e.option(priority, e.u8)
        e.option(cookie, lambda c: (e.u8(c[0]), e.option(c[1], e.u8)))
        e.option(idle, e.u8)
        e.option(hard, e.u8)
        e.option(out_port, e.u8)
        e.u8(proto)
        e.vec(list(fields), lambda f: f(e))
        e.vec(list(actions), lambda a: a(e))

    return enc


def add(fl, table_any=False, raw_table=None):
    return mod(0, None, fl, table_any, raw_table)


def modify(fl, strict=False):
    return mod(1, strict, fl)


def delete(fl, strict=False, table_any=False):
    return mod(2, strict, fl, table_any)


def mod(command, strict, fl, table_any=False, raw_table=None):
    def enc(e):
        e.variant(command, 3)
        if command != 0:
            e.bool(strict)
        fl(e)
        e.bool(table_any)
        e.option(raw_table, e.u8)

    return enc


def bundle(*mods):
    return lambda e: (e.variant(0, 4), e.vec(list(mods), lambda m: m(e)))


def replace(*flows):
    return lambda e: (e.variant(1, 4), e.vec(list(flows), lambda f: f(e)))


def tick(ms):
    # The target advances its clock by ms * 16.
    return lambda e: (e.variant(2, 4), e.u16(ms))


def lookup(table=0, in_port=0, proto=0, src=0, dst=0, tp_src=1024, tp_dst=0, reg0=0,
           metadata=0, vlan=0, dl_src=0, ct_state=0, nw_tos=0, flip_seed=0x9e3779b97f4a7c15):
    # proto: 0 tcp, 1 udp, 2 icmp, 3 arp, 4 tcp6, 5 sctp. vlan: 0 untagged, n: VLAN n-1.
    def enc(e):
        e.variant(3, 4)
        for v in (table, in_port, proto, src, dst):
            e.u8(v)
        e.u16(tp_src)
        for v in (tp_dst, reg0, metadata, vlan, dl_src, ct_state, nw_tos):
            e.u8(v)
        e.u64(flip_seed)

    return enc


def steps(*ss):
    e = Enc()
    e.vec(list(ss), lambda s: s(e))
    return e.out


def flow_table_seeds():
    # A two-port patch and a catch-all drop; lookups from each port and from a third.
    yield "l2_patch", steps(
        bundle(
            add(flow([f_in_port(1)], [a_output(2)], priority=1)),
            add(flow([f_in_port(2)], [a_output(1)], priority=1)),
            add(flow([], [a_drop], priority=0)),
        ),
        lookup(in_port=1),
        lookup(in_port=2, proto=1),
        lookup(in_port=3, proto=3),
    )
    # An ACL: web traffic to 10/8 goes to table 1, which rewrites the TOS per source prefix;
    # everything else is dropped. Overlapping prefixes at different priorities.
    yield "acl_prefixes_goto", steps(
        bundle(
            add(flow([f_tp_dst(1), f_nw_dst(3, 3)], [a_goto(1)], priority=2, proto=2)),
            add(flow([], [a_drop], priority=0)),
            add(flow([f_nw_src(0, 0)], [a_mod_nw_tos(2), a_normal], table=1, priority=3,
                     proto=1)),
            add(flow([f_nw_src(3, 3)], [a_mod_nw_tos(1), a_normal], table=1, priority=1,
                     proto=1)),
            add(flow([f_nw_src(1, 1)], [a_dec_ttl, a_output(3)], table=1, priority=2,
                     proto=1)),
        ),
        lookup(proto=0, src=0, dst=0, tp_dst=1),
        lookup(table=1, proto=0, src=0, dst=1, tp_dst=1),
        lookup(table=1, proto=1, src=1, dst=0),
        lookup(proto=0, src=2, dst=2, tp_dst=2),
    )
    # Modify and delete, strict and not, by cookie and out_port.
    yield "modify_delete_cookie", steps(
        bundle(
            add(flow([f_in_port(1), f_reg0(1, 3)], [a_output(2)], priority=1, cookie=(1, None))),
            add(flow([f_in_port(1)], [a_output(3)], priority=0, cookie=(2, None))),
            add(flow([f_metadata(2)], [a_set_reg0(1), a_resubmit(2)], table=2, priority=1,
                     cookie=(1, None))),
        ),
        lookup(in_port=1, reg0=1),
        bundle(modify(flow([f_in_port(1)], [a_output(2)], priority=0), strict=True)),
        bundle(modify(flow([], [a_normal], cookie=(1, 3)))),
        lookup(in_port=1, reg0=1),
        bundle(delete(flow([], out_port=2))),
        bundle(delete(flow([f_in_port(1), f_reg0(1, 3)], priority=1), strict=True)),
        lookup(in_port=1),
        bundle(delete(flow([], cookie=(1, 3)), table_any=True)),
        lookup(table=2, metadata=2),
    )
    # A bundle whose last flow-mod is refused (add into table 255): nothing of it may stay.
    yield "rejected_bundle", steps(
        bundle(add(flow([f_in_port(3)], [a_output(1)], priority=1))),
        bundle(
            add(flow([f_in_port(2)], [a_output(1)], priority=1)),
            delete(flow([f_in_port(3)])),
            add(flow([], [a_drop]), raw_table=255),
        ),
        lookup(in_port=3),
        lookup(in_port=2),
    )
    # replace-flows with timeouts, then time passes: idle rules that are hit survive longer.
    yield "replace_timeouts", steps(
        bundle(add(flow([f_in_port(3)], [a_output(1)]))),
        replace(
            flow([f_dl_vlan(1), f_dl_src(2)], [a_output(1)], priority=1, idle=1),
            flow([f_tp_src_masked(0x400, 0xff00)], [a_output(2)], priority=2, hard=2,
                 proto=3),
            flow([f_nw_tos(1)], [a_drop], priority=3, idle=3, hard=3, proto=1),
            flow([], [a_normal], priority=0),
        ),
        lookup(vlan=2, dl_src=2),
        tick(40),
        lookup(vlan=2, dl_src=2),
        tick(40),
        lookup(proto=1, tp_src=0x4aa),
        tick(100),
        lookup(proto=1, nw_tos=1),
        tick(250),
        lookup(),
    )
    # A connection-tracking pipeline: untracked IP goes through ct into table 1, which
    # commits new connections and passes established ones.
    yield "ct_pipeline", steps(
        bundle(
            add(flow([f_ct_state(0, 0x20)], [a_ct(False, 1)], priority=1, proto=1)),
            add(flow([f_ct_state(0x21, 0)], [a_ct(True, 2), a_output(2)], table=1,
                     priority=2, proto=1)),
            add(flow([f_ct_state(0x22, 0x10)], [a_output(2)], table=1, priority=2,
                     proto=1)),
            add(flow([f_ct_state(0x30, 0)], [a_drop], table=1, priority=3, proto=1)),
            add(flow([], [a_drop], table=1)),
        ),
        lookup(ct_state=0),
        lookup(table=1, ct_state=0x21),
        lookup(table=1, ct_state=0x22),
        lookup(table=1, ct_state=0x31),
        lookup(table=1, proto=3, ct_state=0x22),
    )


# --- frames for offload_complete and action_exec ---------------------------------------------
# Checksums may be left zero: both targets make them valid with their own oracle.

def f_eth(ethertype, payload, vlans=()):
    out = bytearray(b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01")
    for tpid, tci in vlans:
        out += struct.pack(">HH", tpid, tci)
    return out + struct.pack(">H", ethertype) + payload


def f_ipv4(proto, l4, src=(10, 0, 0, 1), dst=(10, 0, 0, 2), frag=0x4000):
    return struct.pack(">BBHHHBBH4B4B", 0x45, 0, 20 + len(l4), 0x1234, frag, 64, proto, 0,
                       *src, *dst) + l4


def f_ipv6(next_header, l4, ext=b""):
    src = bytes([0xfd] + [0] * 14 + [1])
    dst = bytes([0xfd] + [0] * 14 + [2])
    return struct.pack(">IHBB", 0x6000_0000, len(ext) + len(l4), next_header, 64) + src + dst \
        + ext + l4


def f_tcp(sport, dport, payload, flags=0x18):
    return struct.pack(">HHIIBBHHH", sport, dport, 0xfffff000, 1, 0x50, flags, 65535, 0, 0) \
        + payload


def f_udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def f_payload(n):
    return bytes((i * 7 + i // 251) & 0xff for i in range(n))


def offload_seeds():
    """Raw input: mode byte, GSO size (big-endian), virtio-net header, frame."""
    def seed(mode, gso, vnet, frame):
        return bytes([mode]) + struct.pack(">H", gso) + bytes(vnet) + bytes(frame)

    tcp4 = f_eth(0x0800, f_ipv4(6, f_tcp(40000, 80, f_payload(3000))))
    yield "tso_v4", seed(1, 1448, [1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0], tcp4)
    tcp6 = f_eth(0x86dd, f_ipv6(6, f_tcp(40000, 443, f_payload(2000))))
    yield "tso_v6_ecn", seed(5, 1000, [1, 0x84, 0, 0, 0xe8, 3, 54, 0, 16, 0], tcp6)
    udp6 = f_eth(0x86dd, f_ipv6(0, f_udp(4000, 4789, f_payload(1500)),
                                ext=bytes([17, 0, 1, 4, 0, 0, 0, 0])))
    yield "uso_v6_hop_by_hop", seed(2, 600, [1, 5, 0, 0, 0x58, 2, 62, 0, 6, 0], udp6)
    udp4_vlan = f_eth(0x0800, f_ipv4(17, f_udp(1234, 5678, b"hello, vswitch!")),
                      vlans=((0x8100, 0x0123),))
    yield "csum_udp_vlan", seed(0, 0, [1, 0, 0, 0, 0, 0, 38, 0, 6, 0], udp4_vlan)
    # The hostile frame of the fixed bug: IPv4 cut before the protocol byte.
    cut = f_eth(0x0800, f_ipv4(17, b""))[:22]
    yield "ipv4_cut_22", seed(0, 0, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], cut)
    yield "ipv4_cut_23_inferred", seed(3, 100, [0] * 10,
                                       f_eth(0x0800, f_ipv4(6, b""))[:23])


def exec_input(actions, frame, conntrack=False, fix=True, udp_zero=False, raw_headers=None):
    e = Enc()
    e.bool(conntrack)
    e.bool(fix)
    e.bool(udp_zero)
    e.option(raw_headers, lambda r: (e.u16(r[0]), e.u16(r[1]), e.bool(r[2]), e.u8(r[3]),
                                     e.u8(r[4])))
    e.vec(actions, lambda a: a(e))
    e.vec(frame, e.u8)
    return e.out


ACTS = 10


def x_output(p):
    return lambda e: (e.variant(0, ACTS), e.u8(p))


def x_recirc(i):
    return lambda e: (e.variant(1, ACTS), e.u8(i))


def x_set_eth(src, dst):
    def enc(e):
        e.variant(2, ACTS)
        for b in list(src) + [0xff] * 6 + list(dst) + [0xff] * 6:
            e.u8(b)
    return enc


def x_set_ipv4(src=(0, 0), dst=(0, 0), tos=(0, 0), ttl=(0, 0)):
    def enc(e):
        e.variant(3, ACTS)
        e.u32(src[0]), e.u32(src[1]), e.u32(dst[0]), e.u32(dst[1])
        e.u8(tos[0]), e.u8(tos[1]), e.u8(ttl[0]), e.u8(ttl[1])
    return enc


def x_set_ipv6(dst_last, hlimit):
    def enc(e):
        e.variant(4, ACTS)
        for b in [0] * 32:  # src untouched
            e.u8(b)
        for b in [0] * 15 + [dst_last] + [0] * 15 + [0xff]:
            e.u8(b)
        e.u8(0), e.u8(0), e.u8(hlimit), e.u8(0xff), e.u32(0), e.u32(0)
    return enc


def x_set_l4(proto_sel, sport, dport):
    return lambda e: (e.variant(5, ACTS), e.u8(proto_sel), e.u16(sport), e.u16(0xffff),
                      e.u16(dport), e.u16(0xffff))


def x_push_vlan(qinq, tci):
    return lambda e: (e.variant(6, ACTS), e.bool(qinq), e.u16(tci))


def x_pop_vlan(e):
    e.variant(7, ACTS)


def x_ct(commit, zone, snat_to=None):
    """`ct` with commit and zone, and SNAT to 192.0.2.`snat_to` when given."""
    def enc(e):
        e.variant(8, ACTS)
        e.bool(commit)
        e.u8(zone)

        def nat(last):
            e.option(True, e.bool)  # src: Some(true), SNAT
            e.option((last, False), lambda a: (e.u8(a[0]), e.bool(a[1])))
            e.option(None, None)  # ports
            e.bool(False)  # v6
        e.option(snat_to, nat)
    return enc


def x_ct_clear(e):
    e.variant(9, ACTS)


def action_exec_seeds():
    tcp4 = f_eth(0x0800, f_ipv4(6, f_tcp(1234, 80, b"data")))
    yield "nat_rewrite_tcp4", exec_input(
        [x_set_ipv4(src=(0xc0a80101, 0xffffffff), ttl=(63, 0xff)), x_set_l4(0, 4321, 8080),
         x_set_eth([2, 0, 0, 0, 0, 0xaa], [2, 0, 0, 0, 0, 0xbb]), x_output(1)], tcp4)
    udp4 = f_eth(0x0800, f_ipv4(17, f_udp(53, 5353, b"q")))
    yield "udp_zero_checksum_kept", exec_input(
        [x_set_ipv4(dst=(0x0a000063, 0xff)), x_set_l4(1, 99, 0), x_output(2)], udp4,
        udp_zero=True)
    udp6 = f_eth(0x86dd, f_ipv6(17, f_udp(1000, 2000, f_payload(40))))
    yield "ipv6_dst_and_hlimit", exec_input([x_set_ipv6(9, 1), x_output(1), x_output(2)], udp6)
    tagged = f_eth(0x0800, f_ipv4(6, f_tcp(1, 2, b"")), vlans=((0x8100, 10),))
    yield "vlan_modify_push_pop", exec_input(
        [x_pop_vlan, x_push_vlan(False, 20), x_output(1), x_push_vlan(True, 30), x_output(2),
         x_pop_vlan, x_pop_vlan, x_output(3)], tagged)
    sctp = f_eth(0x0800, f_ipv4(132, struct.pack(">HHII", 7, 9, 1, 0) + f_payload(16)))
    yield "sctp_ports_crc", exec_input([x_set_l4(2, 77, 99), x_output(1)], sctp)
    yield "ct_snat_recirc", exec_input(
        [x_ct(True, 1, snat_to=5), x_recirc(3), x_ct_clear, x_output(0)], tcp4, conntrack=True)
    yield "ct_without_conntrack", exec_input([x_output(1), x_ct(False, 0)], tcp4)
    yield "raw_offsets_past_frame", exec_input(
        [x_set_ipv4(src=(1, 0xffffffff)), x_set_l4(0, 1, 1), x_set_l4(2, 1, 1), x_output(1)],
        tcp4[:30], fix=False, raw_headers=(26, 60000, False, 132, 0))


def main():
    for name, data in offload_seeds():
        write("offload_complete", name, data)
    for name, data in action_exec_seeds():
        write("action_exec", name, data)
    for name, data in conntrack_seeds():
        write("conntrack_seq", name, data)
    for name, data in flow_table_seeds():
        write("flow_table", name, data)


if __name__ == "__main__":
    main()

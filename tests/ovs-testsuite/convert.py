#!/usr/bin/env python3
"""Extracts the cases of Open vSwitch's own test suite that an offline trace can express.

Reads OVS's autotest sources (`tests/ofproto-dpif.at`, `tests/ovs-ofctl.at`) from a git
checkout at a fixed tag and writes data files beside this script:

* `ofproto-dpif.json`: trace cases. Each is the flow table (and groups) an OVS test installed,
  the ports it created with `add_of_ports`, one packet given to `ofproto/trace`, and the
  expected last `Megaflow:` / `Datapath actions:` lines the test checked.
* `ovs-ofctl.json`: flow-parsing cases. Each is one flow given to `ovs-ofctl parse-flows`
  with the flow-mod OVS printed for it, or one flow `ovs-ofctl parse-flow` must reject.
* `SKIPPED.md`: every AT_SETUP block (and trace check) not converted, with the reason.

The extraction is a small interpreter for the subset of m4/autotest and shell the OVS tests use
around their traces: `AT_DATA` files, `add_of_ports`, `ovs-ofctl add-flow(s)/del-flows/
replace-flows/add-group`, plain shell variables, `ofproto/trace` and the `tail -N stdout` check
that follows it. Anything else that changes the switch (ovs-vsctl, bonds, controllers, loops)
makes the rest of that block "not converted", with the reason recorded, never guessed.

Usage: convert.py [--ovs-git DIR] [--tag TAG]
  DIR defaults to /work/.mirror/openvswitch+ovs/repo (a bare clone), TAG to v3.1.7 (the
  latest 3.1 point release; Debian's 3.1.0-2+deb12u1 package carries its fixes, e.g. the
  always-masked nw_proto in megaflows).
"""

import argparse
import json
import os
import re
import subprocess
import sys

from m4sh import ASSIGN, Skip, arg_text, blocks, expand_vars, run_sh, shell_words
from odp import odp_megaflow, odp_to_flow

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------- ofproto-dpif


def convert_dpif(text, src):
    cases = []
    skipped = []
    for title, line, items in blocks(text):
        env = {}
        files = {}
        ports = set()
        flows = []
        groups = []
        taint = None  # why later traces in this block cannot be converted
        received = []  # packets given to netdev-dummy/receive: (flow syntax, datapath syntax)
        prefixes = None  # the table-0 prefix fields the test configured
        gen = None  # lines of a `( ... ) > FILE` generator being collected
        pending = None  # the last trace: dict
        n_checks = 0
        block_cases = []
        block_skips = []

        def trace_note(reason):
            block_skips.append(reason)

        for it in items:
            try:
                if it[0] == "shell":
                    s = it[1]
                    if gen is not None or s.startswith("("):
                        gen = (gen or []) + [s]
                        m = re.search(r"\)\s*>\s*(\S+)$", s)
                        if m:
                            prog = "\n".join(gen)[1:]
                            prog = prog[: prog.rfind(")")]
                            gen = None
                            files[m.group(1)] = run_sh(prog, env)
                        continue
                    m = re.match(r"^(.*\S)\s+(>>?)\s*(\S+)$", s)
                    if m and m.group(1)[-1] != "-" and m.group(1).split()[0] in ("echo", "for"):
                        out = run_sh(m.group(1), env)
                        name_ = m.group(3)
                        files[name_] = (files.get(name_, "") if m.group(2) == ">>" else "") + out
                        continue
                    m = ASSIGN.match(s)
                    if m:
                        v = m.group(2)
                        if v[:1] == "'":
                            env[m.group(1)] = v[1:-1]
                        else:
                            env[m.group(1)] = expand_vars(v.strip('"'), env)
                        continue
                    if s.startswith("add_of_ports"):
                        s = re.sub(r"`seq (\d+) (\d+)`", lambda m: " ".join(
                            str(i) for i in range(int(m.group(1)), int(m.group(2)) + 1)), s)
                        w = s.split()[1:]
                        w = [x for x in w if not x.startswith("--")]
                        if w[:1] != ["br0"] or not all(x.isdigit() for x in w[1:]):
                            raise Skip("add_of_ports %s" % " ".join(w))
                        ports.update(int(x) for x in w[1:])
                        continue
                    if s.startswith("for tuple in") and title == "ofproto-dpif - fragment handling - trace":
                        block_cases += frag_trace_cases(title, items, env, ports, flows, src, line)
                        trace_note("modes drop and nx-match: vswitch has no set-frags")
                        break
                    if s.startswith(("sleep", ":", "echo ", "printf")) and ">" not in s:
                        continue
                    if s.startswith("ovs-appctl time/") or s.startswith("ovs-appctl vlog/"):
                        continue
                    taint = taint or "shell: %s" % s[:60]
                    continue
                name, args = it[1], it[2]
                if name in ("OVS_VSWITCHD_STOP", "OVS_TRAFFIC_VSWITCHD_STOP", "AT_KEYWORDS",
                            "AT_CAPTURE_FILE", "OVS_WAIT_UNTIL", "OVS_WAIT_UNTIL_EQUAL",
                            "OVS_WAIT_WHILE"):
                    # Waits read state; they change nothing a trace sees.
                    continue
                if name == "OVS_VSWITCHD_START":
                    extra = [arg_text(a).strip() for a in args]
                    if any(extra[1:]):
                        taint = taint or "OVS_VSWITCHD_START with extra options"
                    elif extra and extra[0]:
                        p, f = start_config(extra[0])
                        ports.update(p)
                        flows += f
                    continue
                if name == "AT_DATA":
                    files[arg_text(args[0]).strip()] = arg_text(args[1])
                    continue
                if name not in ("AT_CHECK", "AT_CHECK_UNQUOTED") or not args:
                    taint = taint or "%s" % name
                    continue
                cmd = arg_text(args[0]).strip()
                want_out = arg_text(args[2]) if len(args) > 2 else ""
                status = arg_text(args[1]).strip() if len(args) > 1 else "0"
                if cmd.startswith("tail -") and cmd.endswith(" stdout"):
                    if pending is None:
                        continue
                    n_checks += 1
                    tr = pending
                    if tr.get("skip"):
                        trace_note("check %d: %s" % (n_checks, tr["skip"]))
                        continue
                    exp = parse_expected(want_out)
                    if exp is None:
                        trace_note("check %d: expected output has no Datapath actions line" % n_checks)
                        continue
                    case = dict(tr)
                    case["name"] = "%s #%d" % (title, n_checks)
                    case["expect"] = exp
                    block_cases.append(case)
                    continue
                if "filter_flow_install" in cmd and want_out.strip():
                    n_checks += 1
                    c = megaflow_case(cmd, want_out, taint, ports, flows, groups, received)
                    if prefixes and "skip" not in c:
                        c["ovs_prefixes"] = prefixes
                    if "skip" in c:
                        trace_note("check %d: %s" % (n_checks, c["skip"]))
                    else:
                        c.update(name="%s #%d" % (title, n_checks), source="%s:%d" % (src, line))
                        block_cases.append(c)
                    continue
                words = shell_words(expand_vars(cmd, env))
                if words is None:
                    if not read_only(cmd):
                        taint = taint or "compound shell command"
                    continue
                if words[:1] == ["ovs-ofctl"]:
                    w = ofctl_args(words[1:])
                    if w[:1] == ["add-flow"] and len(w) == 3 and w[1] == "br0":
                        if status not in ("", "0"):
                            continue
                        flows.append(w[2])
                    elif w[:1] in (["add-flows"], ["replace-flows"]) and len(w) == 3 and w[1] == "br0":
                        if w[2] not in files:
                            raise Skip("flows file %s not from AT_DATA" % w[2])
                        if w[0] == "replace-flows":
                            flows = []
                        flows += flow_lines(files[w[2]])
                    elif w[:1] == ["del-flows"] and w[1:] == ["br0"]:
                        flows = []
                    elif w[:1] == ["add-group"] and len(w) == 3 and w[1] == "br0":
                        groups.append(w[2])
                    elif w[:1] == ["add-groups"] and len(w) == 3 and w[1] == "br0" and w[2] in files:
                        groups += flow_lines(files[w[2]])
                    elif w[:1] in (["dump-flows"], ["dump-groups"], ["show"], ["dump-ports"],
                                   ["dump-group-stats"], ["dump-tables"]):
                        continue
                    else:
                        taint = taint or "ovs-ofctl %s" % " ".join(w[:1])
                    continue
                if words[:2] == ["ovs-appctl", "ofproto/trace"] or (
                        words[:1] == ["ovs-appctl"] and "ofproto/trace" in words):
                    words = words[words.index("ofproto/trace") + 1:]
                    pending = trace_case(words, taint, ports, flows, groups, src, line)
                    inline = want_out.strip() not in ("", "stdout", "ignore", "expout",
                                                      "ignore-nolog", "stdout-nolog")
                    if inline and pending and not pending.get("skip"):
                        # Expected output given inline: the whole trace.
                        n_checks += 1
                        exp = parse_expected(want_out)
                        if exp is not None:
                            case = dict(pending)
                            case["name"] = "%s #%d" % (title, n_checks)
                            case["expect"] = exp
                            block_cases.append(case)
                        else:
                            trace_note("check %d: inline trace output without Datapath actions" % n_checks)
                        pending = None
                    continue
                if words[:2] == ["ovs-appctl", "netdev-dummy/receive"] and len(words) == 4:
                    if not re.match(r"^\s*\w+\(", words[3]):
                        taint = taint or "netdev-dummy/receive of packet bytes"
                        continue
                    try:
                        received.append((odp_to_flow(words[3]), words[3]))
                    except ValueError as e:
                        taint = taint or "received packet not convertible (%s)" % e
                    continue
                if words[:3] == ["ovs-vsctl", "set", "Bridge"] and "prefixes=" in cmd and \
                        "flow_tables:0=@N1" in cmd:
                    # Prefix tracking on IP addresses is always on in vswitch (DESIGN §2); the
                    # fields are recorded so verify_ovs.py can configure OVS the same way.
                    prefixes = re.search(r"prefixes=(\S+)", cmd).group(1)
                    continue
                if words[:1] == ["ovs-appctl"] and len(words) > 1 and words[1].startswith(
                        ("vlog/", "time/", "revalidator/wait", "coverage/", "dpif/dump-flows",
                         "dpctl/dump-flows", "upcall/", "fdb/show", "dpif/show",
                         "revalidator/purge")):
                    continue
                taint = taint or "%s" % " ".join(words[:2])[:60]
            except Skip as e:
                taint = taint or str(e)
        for c in block_cases:
            cases.append(c)
        if not block_cases:
            skipped.append((title, line, taint or (block_skips[0] if block_skips else
                                                   "no ofproto/trace check")))
        else:
            for r in block_skips:
                skipped.append((title, line, r))
    return cases, skipped


def start_config(text):
    """The ports and default flows of OVS_VSWITCHD_START's ovs-vsctl arguments, when they are
    only dummy ports named pN with OpenFlow number N and the bridge's fail mode."""
    ports = set()
    flows = []
    next_auto = 1
    pending = {}
    for cmd in text.replace("\\\n", " ").split(" -- "):
        w = cmd.split()
        if not w:
            continue
        if w[:2] == ["add-port", "br0"] and len(w) == 3:
            pending[w[2]] = None
        elif w[:1] == ["set"] and w[1].lower() == "interface" and w[2] in pending:
            opts = dict(x.split("=", 1) for x in w[3:])
            if opts.pop("type", "dummy") != "dummy" or opts.keys() - {"ofport_request"}:
                raise Skip("OVS_VSWITCHD_START: %s" % cmd.strip()[:60])
            pending[w[2]] = int(opts["ofport_request"]) if "ofport_request" in opts else None
        elif w[:3] == ["set", "bridge", "br0"] and w[3:] == ["fail-mode=standalone"]:
            # A standalone bridge with no controller gets OVS's visible default flow.
            flows.append("priority=0,actions=NORMAL")
        else:
            raise Skip("OVS_VSWITCHD_START: %s" % cmd.strip()[:60])
    for name, req in pending.items():
        ofport = req if req is not None else next_auto
        next_auto = max(next_auto, ofport + 1)
        if name != "p%d" % ofport:
            raise Skip("OVS_VSWITCHD_START: port %s is OpenFlow port %d" % (name, ofport))
        ports.add(ofport)
    return ports, flows


def frag_trace_cases(title, items, env, ports, flows, src, line):
    """'fragment handling - trace' loops over (mode, expected output for a non-fragment, a
    first fragment, a later fragment) and `ovs-ofctl set-frags br0 MODE`. vswitch has no
    set-frags: only mode "normal", OVS's default, is converted. The expected lines follow the
    loop body: 'set(tcp(src=80)),N' for the non-fragment and the first fragment (the rules
    copy tp_dst into tp_src), 'N' for the later fragment, which has no ports."""
    shell = [it[1] for it in items if it[0] == "shell"]
    tuples = [t.split() for t in re.findall(r"'(\w[\w-]* +\S+ +\S+ +\S+)'", "\n".join(shell))]
    out = []
    for mode, no, first, later in tuples:
        if mode != "normal":
            continue
        for k, (typ, want) in enumerate((("no", no), ("first", first), ("later", later)), 1):
            acts = want if typ == "later" else "set(tcp(src=80)),%s" % want
            out.append({"name": "%s (mode normal, %s) #%d" % (title, typ, k),
                        "source": "%s:%d" % (src, line), "ports": sorted(ports),
                        "flows": list(flows), "groups": [], "ct_next": [],
                        "packet": odp_to_flow(env["%s_flow" % typ]),
                        "expect": {"megaflow": None, "actions": acts}})
    return out


def megaflow_case(cmd, out, taint, ports, flows, groups, received):
    """A check of the megaflows OVS installed for the packets received so far."""
    if taint:
        return {"skip": "setup not expressible offline (%s)" % taint}
    if "grep" in cmd or not received:
        return {"skip": "megaflow check on a filtered log or without received packets"}
    want = []
    for l in out.split("\n"):
        l = l.strip()
        if not l:
            continue
        m = re.match(r"^(.*?), (?:packets:\S+ bytes:\S+ used:\S+ )?actions: ?(.*)$", l)
        if not m:
            return {"skip": "megaflow line not understood: %s" % l[:60]}
        try:
            items = odp_megaflow(m.group(1))
        except ValueError as e:
            return {"skip": "megaflow not convertible (%s)" % e}
        acts = m.group(2).strip()
        want.append({"match": items, "actions": None if acts == "<del>" else acts})
    return {"kind": "megaflows", "ports": sorted(ports), "flows": list(flows),
            "groups": list(groups), "packets": [r[0] for r in received],
            "odp_packets": [r[1] for r in received], "expect_megaflows": want}

def trace_case(words, taint, ports, flows, groups, src, line):
    if taint:
        return {"skip": "setup not expressible offline (%s)" % taint}
    ct_next = []
    rest = []
    i = 0
    while i < len(words):
        if words[i] == "--ct-next":
            ct_next.append(words[i + 1])
            i += 2
            continue
        if words[i] == "-generate" and not any(
                re.search(r"normal|learn|controller", f, re.I) for f in flows):
            # -generate also runs the packet through the datapath; with no MAC learning,
            # learn action or controller in the table, that changes nothing later checks see.
            i += 1
            continue
        if words[i].startswith("-"):
            return {"skip": "ofproto/trace option %s" % words[i]}
        rest.append(words[i])
        i += 1
    if len(rest) == 2 and rest[0] in ("br0", "ovs-dummy"):
        pkt = rest[1]
    elif len(rest) == 1:
        pkt = rest[0]
    else:
        return {"skip": "ofproto/trace with packet bytes or another bridge"}
    if re.match(r"^\s*\w+\(", pkt):
        try:
            pkt = odp_to_flow(pkt)
        except ValueError as e:
            return {"skip": "datapath packet not convertible (%s)" % e}
    return {
        "source": "%s:%d" % (src, line),
        "ports": sorted(ports),
        "flows": list(flows),
        "groups": list(groups),
        "packet": pkt,
        "ct_next": ct_next,
    }

READ_ONLY_APPCTL = ("dpif/show", "dpctl/dump-flows", "dpif/dump-flows", "fdb/show", "bond/show",
                    "upcall/show", "coverage/", "dpif/dump-dps", "ofproto/trace")


def read_only(cmd):
    """Whether a compound command only reads state (its output is checked, nothing set)."""
    w = cmd.split()
    if not w or ">" in cmd.replace("->", ""):
        return False
    if w[0] in ("cat", "grep", "sed", "tail", "head", "sort", "wc", "strip_ufid", "strip_xout",
                "filter_flow_install", "test", "ofctl_strip"):
        return True
    if w[0] == "ovs-appctl" and len(w) > 1 and w[1].startswith(READ_ONLY_APPCTL):
        return True
    return w[0] == "ovs-ofctl" and any(x.startswith("dump-") for x in w[1:3])


def ofctl_args(words):
    """ovs-ofctl's arguments without its options (-O/--protocols/-F take a value)."""
    out = []
    skip = False
    for x in words:
        if skip:
            skip = False
        elif x in ("-O", "--protocols", "-F", "--flow-format"):
            skip = True
        elif not x.startswith("-"):
            out.append(x)
    return out


def flow_lines(text):
    out = []
    for l in text.split("\n"):
        l = l.strip()
        if l and not l.startswith("#"):
            out.append(l)
    return out


def parse_expected(out):
    mf = None
    acts = None
    for l in out.split("\n"):
        m = re.match(r"^Translation failed \((.*)\), packet is dropped\.$", l)
        if m:
            return {"megaflow": None, "actions": "drop", "error": m.group(1)}
        if l.startswith("Megaflow: "):
            mf = l[len("Megaflow: "):]
        elif l.startswith("Datapath actions: "):
            acts = l[len("Datapath actions: "):]
    if acts is None:
        return None
    return {"megaflow": mf, "actions": acts}

# --------------------------------------------------------------------------- ovs-ofctl


FLOW_MOD = re.compile(r"^(OFPT_FLOW_MOD(?: \(OF1\.\d\))?|NXT_FLOW_MOD): ADD (.*)$")


def rfc5952(m):
    import ipaddress
    text = m.group(0)
    if text.count("::") > 1:
        text = text.replace("fec0::", "fec0:0:", 1)
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        return m.group(0)


def normalize_flow_mod(body):
    """`table:255 tcp,tp_src=1 idle:5 cookie:0x5 actions=X` -> add-flow syntax."""
    if " actions=" in body or body.startswith("actions="):
        head, _, acts = body.partition("actions=")
    else:
        raise ValueError("no actions")
    extra = []
    match = []
    for tok in head.split():
        k, sep, v = tok.partition(":")
        if sep and k in ("idle", "hard", "cookie", "table", "importance", "pri"):
            name = {"idle": "idle_timeout", "hard": "hard_timeout", "pri": "priority"}.get(k, k)
            if k == "table" and v == "255":
                continue
            extra.append("%s=%s" % (name, v))
        elif tok in ("send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts",
                     "no_byte_counts"):
            extra.append(tok)
        else:
            match.append(tok)
    m = ",".join(match)
    return ",".join(x for x in extra + [m] if x) + (",actions=" if (extra or m) else "actions=") + acts, m


def convert_ofctl(text, src):
    cases = []
    skipped = []
    for title, line, items in blocks(text):
        files = {}
        got = False
        for idx, it in enumerate(items):
            if it[0] != "macro":
                continue
            name, args = it[1], it[2]
            if name == "AT_DATA":
                files[arg_text(args[0]).strip()] = arg_text(args[1])
                continue
            if name != "AT_CHECK" or not args:
                continue
            cmd = arg_text(args[0]).strip()
            w = cmd.split()
            if w[:1] == ["ovs-ofctl"] and "parse-flows" in w and w[-1] in files:
                if "-mmm" in w:
                    break
                inputs = flow_lines(files[w[-1]])
                status = arg_text(args[1]).strip() if len(args) > 1 else "0"
                if status == "1":
                    for k, f in enumerate(inputs, 1):
                        cases.append({"name": "%s #%d" % (title, k), "source": "%s:%d" % (src, line),
                                      "flow": f, "error": True})
                    got = True
                    continue
                # The printed flow-mods are in the next AT_CHECK's expected output (after sed).
                out = None
                if len(args) > 2 and FLOW_MOD.search(arg_text(args[2]) or "") is not None:
                    out = arg_text(args[2])
                else:
                    for nxt in items[idx + 1:]:
                        if nxt[0] == "macro" and nxt[1] == "AT_CHECK" and len(nxt[2]) > 2:
                            out = arg_text(nxt[2][2])
                            break
                mods = [FLOW_MOD.match(l).group(2) for l in (out or "").split("\n")
                        if FLOW_MOD.match(l)]
                if len(mods) != len(inputs):
                    skipped.append((title, line, "%d flows but %d printed flow-mods" %
                                    (len(inputs), len(mods))))
                    break
                # One test's sed turns glibc's "fec0:0:" into musl's "fec0::" (which can leave
                # an address with two "::"); undo it: OVS on glibc prints RFC 5952 form.
                mods = [re.sub(r"fec0::[0-9a-f:]*", rfc5952, m) for m in mods]
                for k, (f, mod) in enumerate(zip(inputs, mods), 1):
                    try:
                        flow, m = normalize_flow_mod(mod)
                    except ValueError as e:
                        skipped.append((title, line, "flow %d: %s" % (k, e)))
                        continue
                    cases.append({"name": "%s #%d" % (title, k), "source": "%s:%d" % (src, line),
                                  "flow": f, "expect_flow": flow, "expect_match": m})
                got = True
        # parse-flow with invalid mask: a shell loop over (prereq, field, value) triples.
        if title == "ovs-ofctl parse-flow with invalid mask":
            raw = "\n".join(it[1] for it in items if it[0] == "shell")
            for k, tc in enumerate(re.findall(r"'([^']+)'", raw), 1):
                parts = tc.split()
                prereq = parts[0] + "," if len(parts) == 3 else ""
                field, value = parts[-2], parts[-1]
                cases.append({"name": "%s #%d (%s)" % (title, k, tc), "source": "%s:%d" % (src, line),
                              "flow": "%s%s=%s,actions=drop" % (prereq, field, value), "error": True})
                got = True
        # parse-flows choice of protocol: a shell loop over 'MATCH PROTOCOLS' pairs; OVS
        # accepts every MATCH whose PROTOCOLS are not "none".
        # A flow file sent with add-flows / replace-flows whose FLOW_MODs the test prints
        # (sorted): each printed flow-mod pairs with the input line it reproduces exactly.
        for it in items:
            if it[0] != "macro" or it[1] != "AT_CHECK" or len(it[2]) < 3:
                continue
            cmd = arg_text(it[2][0])
            m = re.search(r"(?:add|replace)-flows br0 (\S+)", cmd)
            if not m or m.group(1) not in files or "FLOW_MOD" not in cmd:
                continue
            inputs = flow_lines(files[m.group(1)])
            mods = [FLOW_MOD.match(l).group(2) for l in arg_text(it[2][2]).split("\n")
                    if FLOW_MOD.match(l)]
            canon = lambda f: ",".join(f.replace(" actions=", ",actions=").split())
            pairs = []
            for mod in mods:
                flow, mt = normalize_flow_mod(mod)
                same = [f for f in inputs if canon(f) == canon(flow)]
                if len(same) != 1:
                    pairs = None
                    break
                pairs.append((same[0], flow, mt))
            if not pairs or len(pairs) != len(inputs):
                continue
            done = sum(1 for c in cases if c["name"].startswith(title + " #"))
            for k, (f, flow, mt) in enumerate(pairs, done + 1):
                cases.append({"name": "%s #%d" % (title, k), "source": "%s:%d" % (src, line),
                              "flow": f, "expect_flow": flow, "expect_match": mt})
                got = True
        # check-vlan V M: the first output line is how OVS prints the match vlan_tci=V/M.
        if title == "ovs-ofctl check-vlan":
            k = 0
            for it in items:
                if it[0] != "macro" or it[1] != "AT_CHECK" or len(it[2]) < 3:
                    continue
                w = arg_text(it[2][0]).split()
                if w[:2] != ["ovs-ofctl", "check-vlan"] or len(w) != 4:
                    continue
                k += 1
                printed = arg_text(it[2][2]).split("\n")[0].split(" -> ")[0].strip()
                flow = "vlan_tci=0x%s/0x%s,actions=drop" % (w[2], w[3])
                cases.append({"name": "%s #%d (%s/%s)" % (title, k, w[2], w[3]),
                              "source": "%s:%d" % (src, line), "flow": flow,
                              "expect_flow": (printed + "," if printed else "") + "actions=drop",
                              "expect_match": printed})
                got = True
        if title == "ovs-ofctl parse-flows choice of protocol":
            raw = "\n".join(it[1] for it in items if it[0] == "shell")
            for k, tc in enumerate(re.findall(r"'([^']+)'", raw), 1):
                parts = tc.split()
                if len(parts) != 2:
                    continue
                c = {"name": "%s #%d (%s)" % (title, k, parts[0]), "source": "%s:%d" % (src, line),
                     "flow": parts[0] + ",actions=drop"}
                c["error" if parts[1] == "none" else "accept"] = True
                cases.append(c)
                got = True
        if not got:
            skipped.append((title, line, "not a parse-flows case with flow-syntax output"))
    return cases, skipped

# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ovs-git", default="/work/.mirror/openvswitch+ovs/repo")
    ap.add_argument("--tag", default="v3.1.7")
    a = ap.parse_args()

    def show(path):
        return subprocess.run(["git", "-C", a.ovs_git, "show", "%s:%s" % (a.tag, path)],
                              check=True, capture_output=True, text=True).stdout

    dpif_src = "tests/ofproto-dpif.at"
    ofctl_src = "tests/ovs-ofctl.at"
    dcases, dskip = convert_dpif(show(dpif_src), dpif_src)
    ocases, oskip = convert_ofctl(show(ofctl_src), ofctl_src)
    # ovs-ofctl.at has a few trace tests of the ofproto-dpif kind too.
    otraces, _ = convert_dpif(show(ofctl_src), ofctl_src)
    ocases += otraces
    traced = {c["name"].rsplit(" #", 1)[0] for c in otraces}
    oskip = [r for r in oskip if r[0] not in traced]
    header = {"ovs_tag": a.tag, "generated_by": "tests/ovs-testsuite/convert.py"}
    for name, cases in (("ofproto-dpif.json", dcases), ("ovs-ofctl.json", ocases)):
        with open(os.path.join(HERE, name), "w") as f:
            json.dump(dict(header, cases=cases), f, indent=1, sort_keys=True)
            f.write("\n")
    with open(os.path.join(HERE, "SKIPPED.md"), "w") as f:
        f.write("# OVS test blocks not converted\n\n"
                "Generated by `convert.py` from OVS %s; do not edit. Each row is an AT_SETUP block\n"
                "of OVS's test suite (or one check inside a converted block) that the offline\n"
                "trace cannot express, with the first reason the converter found. Blocks that\n"
                "run no `ofproto/trace` (bonding, sFlow, controller I/O, ...) are here too.\n\n"
                "| source | test | reason |\n| --- | --- | --- |\n" % a.tag)
        for src, rows in ((dpif_src, dskip), (ofctl_src, oskip)):
            for title, line, why in rows:
                f.write("| %s:%d | %s | %s |\n" % (src, line, title.replace("|", "\\|"),
                                                   why.replace("|", "\\|")))
    print("ofproto-dpif: %d cases, %d skipped rows; ovs-ofctl: %d cases, %d skipped rows"
          % (len(dcases), len(dskip), len(ocases), len(oskip)), file=sys.stderr)


if __name__ == "__main__":
    main()

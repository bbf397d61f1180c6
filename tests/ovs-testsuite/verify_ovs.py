#!/usr/bin/env python3
"""Replays the converted trace cases on a real OVS, to check the converter, not vswitch.

Each trace case in `ofproto-dpif.json` / `ovs-ofctl.json` says what OVS's own test expected.
This script rebuilds the case the way the converter understood it (a dummy bridge with ports
pN = OpenFlow and datapath port N, fail-mode secure, the flows and groups) on a private OVS
sandbox and runs the same `ofproto/trace`: if OVS's answer there differs from the recorded
expectation, the converter misread the test. Megaflow cases are replayed by receiving their
packets on the dummy ports and comparing `dpctl/dump-flows` with the recorded megaflows (as
sets of match items, since the dump's order is the datapath's). Flow-parsing
cases are checked with `ovs-ofctl parse-flow` (no daemon): OVS must accept or reject the flow
as recorded, and read the converter's add-flow form of its printed flow-mod as the same
flow-mod.

Usage: verify_ovs.py SANDBOX_DIR
  SANDBOX_DIR is a running sandbox: ../shared/bench/ovs-sandbox.sh start SANDBOX_DIR
Exits non-zero if any case disagrees; prints one line per case.
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BRIDGE = "br0ot"  # a "br" name: OVS numbers its LOCAL port 100, as for br0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = os.path.abspath(sys.argv[1])
    env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
    db = "--db=unix:%s/db.sock" % d

    def run(*args, check=True):
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(args[:3]), p.stderr.strip()))
        return p

    bad = 0
    for name in ("ofproto-dpif.json", "ovs-ofctl.json"):
        for c in json.load(open(os.path.join(HERE, name)))["cases"]:
            if c.get("kind") == "megaflows":
                try:
                    ok, why = megaflow_case(c, run, db)
                except (RuntimeError, ValueError) as e:
                    ok, why = False, "failed: %s" % e
                bad += not ok
                print("%s %s%s" % ("ok  " if ok else "DIFF", c["name"], "" if ok else ": " + why))
                continue
            if "packet" not in c:
                if "flow" in c:
                    ok, why = parse_case(c, run)
                    bad += not ok
                    print("%s %s%s" % ("ok  " if ok else "DIFF", c["name"], "" if ok else ": " + why))
                continue
            try:
                got = replay(c, run, db)
            except RuntimeError as e:
                got = "setup failed: %s" % e
            exp = c["expect"]
            want = "error" if exp.get("error") else exp["actions"]
            ok = got[0] == want and (not exp.get("megaflow") or got[1] == exp["megaflow"]) \
                if isinstance(got, tuple) else False
            bad += not ok
            print("%s %s%s" % ("ok  " if ok else "DIFF", c["name"],
                               "" if ok else ": OVS now %r, recorded %r" % (got, exp)))
    run("ovs-vsctl", db, "--if-exists", "del-br", BRIDGE)
    print("%d cases disagree" % bad)
    sys.exit(1 if bad else 0)


def parse_case(c, run):
    def mod(flow):
        p = run("ovs-ofctl", "parse-flow", flow, check=False)
        lines = [l.split("): ", 1)[-1] for l in p.stdout.splitlines() if "FLOW_MOD" in l]
        return p.returncode, (lines[-1] if lines else None)
    rc, printed = mod(c["flow"])
    if c.get("error"):
        return rc != 0, "OVS accepts it"
    if rc != 0:
        return False, "OVS rejects it"
    if "expect_flow" not in c:
        return True, ""
    rc2, printed2 = mod(c["expect_flow"])
    if rc2 != 0 or printed2 != printed:
        return False, "converted form %r reads as %r, the flow as %r" % (
            c["expect_flow"], printed2, printed)
    return True, ""


def megaflow_case(c, run, db):
    sys.path.insert(0, HERE)
    from odp import odp_megaflow
    setup(c, run, db)
    run("ovs-appctl", "dpctl/del-flows")
    for p, odp in zip(c["packets"], c["odp_packets"]):
        port = dict(x.split("=", 1) for x in p.split(",") if "=" in x)["in_port"]
        run("ovs-appctl", "netdev-dummy/receive", "p" + port, odp)
    run("ovs-appctl", "revalidator/wait")
    got = []
    for l in run("ovs-appctl", "dpctl/dump-flows").stdout.splitlines():
        if ", packets:" not in l:
            continue  # "flow-dump from ..." headers
        key = l.split(", packets:")[0]
        got.append(sorted(odp_megaflow(key)))
    want = [sorted(m["match"]) for m in c["expect_megaflows"]]
    if sorted(got) == sorted(want):
        return True, ""
    return False, "OVS now installs %s, recorded %s" % (got, want)


def setup(c, run, db):
    run("ovs-vsctl", db, "--if-exists", "del-br", BRIDGE)
    cmd = ["ovs-vsctl", db, "add-br", BRIDGE, "--", "set", "bridge", BRIDGE,
           "datapath_type=dummy", "fail-mode=secure"]
    for p in c["ports"]:
        cmd += ["--", "add-port", BRIDGE, "p%d" % p, "--", "set", "interface", "p%d" % p,
                "type=dummy", "ofport_request=%d" % p]
    if c.get("ovs_prefixes"):
        cmd += ["--", "set", "bridge", BRIDGE, "flow_tables:0=@t0", "--", "--id=@t0", "create",
                "Flow_Table", "name=t0", "prefixes=" + c["ovs_prefixes"]]
    run(*cmd)
    with tempfile.NamedTemporaryFile("w", prefix="ot-", suffix=".txt") as f:
        f.write("\n".join(c["flows"]) + "\n")
        f.flush()
        for g in c["groups"]:
            run("ovs-ofctl", "-O", "OpenFlow15", "add-group", BRIDGE, g)
        if run("ovs-ofctl", "-O", "OpenFlow15", "add-flows", BRIDGE, f.name,
               check=False).returncode != 0:
            run("ovs-ofctl", "add-flows", BRIDGE, f.name)


def replay(c, run, db):
    setup(c, run, db)
    args = ["ovs-appctl", "ofproto/trace", BRIDGE, c["packet"]]
    for s in c["ct_next"]:
        args += ["--ct-next", s]
    out = run(*args, check=False).stdout.splitlines()
    if any(l.startswith("Translation failed") for l in out[-1:]):
        return ("error", None)
    acts = [l[len("Datapath actions: "):] for l in out if l.startswith("Datapath actions: ")]
    mf = [l[len("Megaflow: "):] for l in out if l.startswith("Megaflow: ")]
    return (acts[-1] if acts else "(none)", mf[-1] if mf else None)


if __name__ == "__main__":
    main()

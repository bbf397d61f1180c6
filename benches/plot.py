#!/usr/bin/env python3
"""Plot packets/s against the number of flows, one line per switch.

Reads the JSON lines written by benches/sweep-flows.sh (records with "bench": "sweep-flows";
other records are ignored, so mixed files are fine), takes the median received rate over all
repetitions of each (switch, flows) pair, and writes an SVG and a PNG.

    pip install matplotlib        # the only dependency
    benches/plot.py [--commit C] [--since ISO8601] [-o benches/results/pps-vs-flows] FILE.jsonl...

Without FILE it reads benches/results/sweep-flows.jsonl. --commit / --since keep only the
records of one commit / of runs from a date on (the files are append-only logs).
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent

# Friendly names; anything else is shown as its SWITCH spec.
LABELS = {
    "linuxbridge": "Linux bridge (kernel)",
    "ovs:tap:flows": "OVS userspace, tap ports",
    "ovs:veth:flows": "OVS userspace, veth (AF_PACKET)",
    "ovs:afxdp:flows": "OVS userspace, veth (AF_XDP, PMD)",
    "vswitch": "vswitch (ours), tap ports",
    "vswitch:tap": "vswitch (ours), tap ports",
    "vswitch:veth": "vswitch (ours), veth (AF_PACKET)",
}


def load(paths, commit=None, since=None):
    """(switch -> flows -> [rx_pps]), set of commits, frame sizes seen."""
    data = defaultdict(lambda: defaultdict(list))
    commits, frames = set(), set()
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: not JSON: {e}")
                if r.get("bench") != "sweep-flows" or r.get("rx_pps") is None:
                    continue
                if commit and r.get("commit") != commit:
                    continue
                if since and r.get("date", "") < since:
                    continue
                data[r["switch"]][int(r["flows"])].append(r["rx_pps"])
                commits.add(r.get("commit", "?"))
                frames.add(r.get("frame", 64))
    return data, commits, frames


def plot(data, commits, frames, out):
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    # our switch first and bold, so it stands out however many references are drawn
    order = sorted(data, key=lambda s: (not s.startswith("vswitch"), LABELS.get(s, s)))
    for sw in order:
        xs = sorted(data[sw])
        ys = [statistics.median(data[sw][x]) / 1000 for x in xs]
        ours = sw.startswith("vswitch") or "netns-driver" in sw
        ax.plot(xs, ys, marker="o", linewidth=2.5 if ours else 1.5, label=LABELS.get(sw, sw))
    ax.set_xscale("log")
    ax.set_xlabel("flows (distinct UDP 5-tuples)")
    ax.set_ylabel("received kpps (median)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    sizes = "/".join(str(f) for f in sorted(frames))
    ax.set_title(f"{sizes}-byte UDP through the switch, ns1 → ns2 (commit {', '.join(sorted(commits))})")
    ax.legend()
    fig.text(0.01, 0.01, "2-core shared VM: sender, switch and receiver share the CPUs; compare within one run",
             fontsize=7, alpha=0.7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    written = []
    for ext in ("svg", "png"):
        p = out.with_suffix("." + ext)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p)
        written.append(str(p))
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--commit")
    ap.add_argument("--since")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "results" / "pps-vs-flows",
                    help="output path without extension (default: %(default)s)")
    a = ap.parse_args()
    files = a.files or [HERE / "results" / "sweep-flows.jsonl"]
    data, commits, frames = load(files, a.commit, a.since)
    if not data:
        sys.exit("no sweep-flows records in " + ", ".join(map(str, files)))
    for p in plot(data, commits, frames, a.out):
        print(p)


if __name__ == "__main__":
    main()

//! OVN scenarios (issue 19) on the sandbox of `tests/ovn/sandbox.sh`: a central namespace with
//! ovn-northd and the NB/SB databases, two chassis namespaces each with its own Open_vSwitch
//! ovsdb-server, a switch and an unmodified `ovn-controller`, joined by Geneve over a veth
//! underlay. Each scenario runs on OVS 3.1's netdev datapath (`SWITCH=ovs`, the reference)
//! and on vswitch (`SWITCH=vswitch`: `vswitchd --ovsdb unix:DIR/db.sock`).
//!
//! Scenario (a), `tests/ovn/scenario-a.sh`: one logical switch, a VIF namespace on each
//! chassis, each port waited for until `ovn-installed`, then a ping across the tunnel and a
//! 4 MiB TCP transfer with its SHA-256 checked. On failure the test prints the step reached
//! and the tails of the daemons' logs. `tests/ovn/GAPS.md` lists what vswitch still lacks.
//!
//! The sandbox's names are fixed (namespaces `vov-central`, `vov-hv1`, `vov-hv2`, `vov-vm*`),
//! so the scenarios run one at a time; a guard runs `sandbox.sh down` (processes by PID, then
//! our namespaces by name) also when the test fails. Needs root and Debian's `ovn-central`,
//! `ovn-host` and `openvswitch-switch`; without them the test fails under `CI=true` and
//! otherwise prints that it did not run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use vswitch_tests::netns::require_root;

/// The sandbox's namespace names are fixed: one scenario at a time.
static SANDBOX: Mutex<()> = Mutex::new(());

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ovn").join(name)
}

/// True when OVN and OVS are installed; panics under `CI=true` when they are not.
fn ovn_available() -> bool {
    let missing: Vec<&str> = [
        "ovn-northd",
        "ovn-controller",
        "ovn-nbctl",
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ethtool",
        "nc",
    ]
    .into_iter()
    .filter(|tool| {
        !["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
    })
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "OVN scenario cannot run, missing {missing:?}; CI must install ovn-central, ovn-host, openvswitch-switch, ethtool, netcat-openbsd"
    );
    eprintln!("SKIPPED (not run): missing {missing:?}");
    false
}

/// A running sandbox; `down` on drop.
struct Sandbox {
    dir: tempfile::TempDir,
    switch: &'static str,
    /// Our daemon, for `SWITCH=vswitch` (built before the sandbox exists, so that `down` in
    /// `drop` never builds).
    vswitchd: Option<PathBuf>,
}

impl Sandbox {
    fn sh(&self, script_name: &str, args: &[&str]) -> Command {
        let mut c = Command::new(script(script_name));
        c.args(args)
            .env("OVN_SANDBOX_DIR", self.dir.path())
            .env("SWITCH", self.switch);
        if let Some(vswitchd) = &self.vswitchd {
            c.env("VSWITCHD", vswitchd);
        }
        c
    }

    fn up(switch: &'static str) -> Sandbox {
        let sb = Sandbox {
            dir: tempfile::Builder::new()
                .prefix("vov-")
                .tempdir()
                .expect("state dir"),
            switch,
            vswitchd: (switch == "vswitch").then(|| vswitch_tests::binaries().vswitchd.clone()),
        };
        // A sandbox left behind by a crashed run holds the names.
        let _ = sb.sh("sandbox.sh", &["down"]).output();
        let out = sb
            .sh("sandbox.sh", &["up"])
            .output()
            .expect("run sandbox.sh");
        if !out.status.success() {
            panic!(
                "sandbox.sh up (SWITCH={switch}) failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                sb.logs()
            );
        }
        sb
    }

    /// The last lines of every daemon's log, for a failure message.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = ["central", "hv1", "hv2"]
            .iter()
            .filter_map(|d| std::fs::read_dir(self.dir.path().join(d)).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        files.sort();
        for f in files {
            let body = std::fs::read_to_string(&f).unwrap_or_default();
            let lines: Vec<&str> = body.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            text += &format!("--- {} (last {} lines)\n", f.display(), tail.len());
            for l in tail {
                text += l;
                text.push('\n');
            }
        }
        text
    }

    /// Runs a scenario script; panics with the step it reached and the logs if it fails.
    fn scenario(&self, name: &str) {
        let out = self.sh(name, &[]).output().expect("run scenario");
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        if !out.status.success() {
            let step = stdout
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("step: "))
                .unwrap_or("(none)");
            panic!(
                "{name} failed on SWITCH={} at step \"{step}\": {}\n{}",
                self.switch,
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
        assert!(stdout.contains("scenario-a: PASS"), "no PASS line");
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(out) = self.sh("sandbox.sh", &["down"]).output()
            && !out.status.success()
        {
            eprintln!("sandbox.sh down: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

fn run_scenario_a(switch: &'static str) {
    if !require_root() || !ovn_available() {
        return;
    }
    let _one = SANDBOX.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::up(switch);
    sb.scenario("scenario-a.sh");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn scenario_a_one_logical_switch_on_ovs() {
    run_scenario_a("ovs");
}

/// OVN on vswitch: ovn-controller installs its tables over OpenFlow 1.5 (group-mods in
/// bundles, ct exec moves, push/pop, tunnel fields, ARP rewrites) and traffic crosses the
/// Geneve tunnel with OVN's option (tests/ovn/GAPS.md).
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn scenario_a_one_logical_switch_on_vswitch() {
    run_scenario_a("vswitch");
}

//! What an operator with OVS habits meets first (issue 20, items 3, 5, 6, 7, 9, 10), end to end:
//! the real `vswitchd` driven by the real `vswitch-ctl`.
//!
//! - fail modes: `set-fail-mode`/`get-fail-mode`/`del-fail-mode`, a secure bridge from
//!   `add-br BR -- set Bridge BR fail_mode=secure` starts empty and drops a table miss, the
//!   mode and its flow tables survive a restart, `set-config fail-mode=...` points at
//!   set-fail-mode;
//! - `dump-flows BR > f; replace-flows BR f` restores the table, with or without `--no-stats`;
//! - `trace --generate` (item 2) lets `learn` install its flows, online and offline, where a
//!   plain trace has no side effects;
//! - `--format json` errors are one JSON object on stderr with the status code's name;
//! - the daemon logs bridges and ports coming and going at info;
//! - (root) a system port on a missing interface: a warning on stderr, exit 0, `show` says
//!   `link: down`, and up once the interface appears, with the link changes in the log;
//! - (root) `--listen-group`: a user in the group can use the socket, one outside gets the
//!   permission message;
//! - (root, `script`) dumps count on a terminal's stderr when stdout is redirected, and
//!   print nothing on stderr when piped.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vswitch_tests::netns::{Link, require_root, unique};
use vswitch_tests::{Daemon, binaries, ctl_raw};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::Builder::new().prefix("op-").tempdir().unwrap(),
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("state/conf.db")
    }
    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/vswitchd.sock")
    }
    fn start(&self, extra: &[&str]) -> Daemon {
        Daemon::start(&self.db(), &self.socket(), extra)
    }
}

fn flows(d: &Daemon, br: &str) -> Vec<Value> {
    d.ctl(&["--format", "json", "dump-flows", br])
        .json()
        .as_array()
        .cloned()
        .unwrap()
}

/// Waits up to `secs` for `f` to hold.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

#[test]
fn fail_modes_are_set_durable_and_secure_bridges_start_empty() {
    let env = Env::new();
    let mut d = env.start(&[]);
    d.ctl(&["add-br", "br0"]).ok();
    assert_eq!(
        d.ctl(&["get-fail-mode", "br0"]).ok(),
        "",
        "unset prints nothing"
    );
    assert_eq!(flows(&d, "br0").len(), 1, "standalone: the NORMAL rule");

    // OVS's chained form makes a secure bridge in one request: no rules at all.
    d.ctl(&[
        "add-br",
        "br1",
        "--",
        "set",
        "Bridge",
        "br1",
        "fail_mode=secure",
    ])
    .ok();
    assert_eq!(d.ctl(&["get-fail-mode", "br1"]).ok(), "secure\n");
    assert!(flows(&d, "br1").is_empty());
    d.ctl(&["add-port", "br1", "p1", "--type", "dummy"]).ok();
    d.ctl(&["add-port", "br1", "p2", "--type", "dummy"]).ok();
    let t = d
        .ctl(&[
            "trace",
            "br1",
            "in_port=p1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
        ])
        .ok();
    assert!(t.contains("Datapath actions: drop"), "{t}");
    let show = d.ctl(&["show"]).ok();
    assert!(
        show.contains("Bridge br1\n    fail_mode: secure\n    flows: 0\n"),
        "{show}"
    );
    // The other chained spelling, and one that does not map.
    d.ctl(&["add-br", "br2", "--", "set-fail-mode", "br2", "secure"])
        .ok();
    assert!(flows(&d, "br2").is_empty());
    let e = d
        .ctl(&[
            "add-br",
            "br3",
            "--",
            "set",
            "Bridge",
            "br3",
            "stp_enable=true",
        ])
        .err();
    assert!(
        e.contains("only 'set Bridge br3 fail_mode=standalone|secure'"),
        "{e}"
    );
    assert!(d.ctl(&["list-br"]).ok().lines().all(|b| b != "br3"));

    // Changing the mode in effect flushes, as in OVS.
    d.ctl(&["add-flow", "br0", "priority=5,actions=drop"]).ok();
    assert_eq!(flows(&d, "br0").len(), 2);
    let r = d
        .ctl(&["--format", "json", "set-fail-mode", "br0", "secure"])
        .json();
    assert_eq!(r["flows_flushed"], json!(true));
    assert!(flows(&d, "br0").is_empty());
    d.ctl(&["add-flow", "br0", "priority=5,actions=drop"]).ok();
    // Same mode again: nothing flushed.
    d.ctl(&["set-fail-mode", "br0", "secure"]).ok();
    assert_eq!(flows(&d, "br0").len(), 1);

    // set-config points at the right command.
    let e = d.ctl(&["set-config", "fail-mode=secure"]).err();
    assert!(
        e.contains("use 'vswitch-ctl set-fail-mode BRIDGE secure'"),
        "{e}"
    );

    // The daemon said what happened, at info (the log restarts with the daemon).
    let log = d.log_text();
    for what in ["bridge added", "port added", "fail mode changed"] {
        assert!(log.contains(what), "no '{what}' in the log: {log}");
    }

    // Durable: after SIGKILL and restart, modes and tables are as acknowledged.
    d.stop_with(libc::SIGKILL, Duration::from_secs(5));
    let d = env.start(&[]);
    assert_eq!(d.ctl(&["get-fail-mode", "br0"]).ok(), "secure\n");
    assert_eq!(flows(&d, "br0").len(), 1);
    assert!(flows(&d, "br1").is_empty());
    // del-fail-mode: standalone again, NORMAL back.
    d.ctl(&["del-fail-mode", "br0"]).ok();
    assert_eq!(d.ctl(&["get-fail-mode", "br0"]).ok(), "");
    let f = flows(&d, "br0");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["actions"], json!("NORMAL"), "{f:?}");
    let e = d.ctl(&["get-fail-mode", "nosuchbr"]).err();
    assert!(e.contains("no bridge named nosuchbr"), "{e}");
}

/// OVS's backup habit: `dump-flows` output is valid `replace-flows` input (the parser skips
/// duration, n_packets, n_bytes, idle_age and hard_age, as OVS's does), and `--no-stats`
/// prints lines with nothing to skip.
#[test]
fn dump_flows_output_feeds_replace_flows_back() {
    let env = Env::new();
    let d = env.start(&[]);
    d.ctl(&["add-br", "br0"]).ok();
    let table = [
        "cookie=0x2a,priority=100,tcp,tp_dst=80,actions=mod_nw_tos:32,goto_table:3",
        "table=3,idle_timeout=60,priority=5,ip,nw_src=10.0.0.0/8,actions=output:7",
        "hard_timeout=300,arp,actions=NORMAL",
    ];
    let file = env.dir.path().join("flows.txt");
    std::fs::write(&file, table.join("\n")).unwrap();
    d.ctl(&["replace-flows", "br0", file.to_str().unwrap()])
        .ok();
    let before = d.ctl(&["dump-flows", "br0", "--no-stats"]).ok();
    assert!(
        before.contains(
            " cookie=0x2a, priority=100,tcp,tp_dst=80 actions=mod_nw_tos:32,goto_table:3\n"
        ),
        "{before}"
    );
    assert!(!before.contains("n_packets"), "{before}");
    for args in [
        &["dump-flows", "br0"][..],
        &["dump-flows", "br0", "--no-stats"],
    ] {
        let dump = d.ctl(args).ok();
        let saved = env.dir.path().join("saved.txt");
        std::fs::write(&saved, &dump).unwrap();
        d.ctl(&["del-flows", "br0"]).ok();
        d.ctl(&["replace-flows", "br0", saved.to_str().unwrap()])
            .ok();
        assert_eq!(
            d.ctl(&["dump-flows", "br0", "--no-stats"]).ok(),
            before,
            "{args:?} output did not restore the table:\n{dump}"
        );
    }
}

/// A MAC-learning table in the style of OVS's ovs-advanced tutorial: table 0 learns where
/// each source lives into table 10, then looks the destination up there.
const LEARN_FLOWS: &str = "\
table=0,priority=0,actions=learn(table=10,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,10)
table=10,priority=0,actions=drop
";

#[test]
fn trace_generate_lets_learn_install_its_flows() {
    let env = Env::new();
    let file = env.dir.path().join("learn.txt");
    std::fs::write(&file, LEARN_FLOWS).unwrap();
    let file = file.to_str().unwrap();
    let from_a = "in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:0b";
    let from_b = "in_port=2,dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:0a";

    // Offline: each packet in turn, the first's learned flow in place for the second.
    let offline = |extra: &[&str]| {
        ctl_raw(
            &[
                &["--format", "json", "trace", "--flows", file, "--ports", "2"][..],
                extra,
            ]
            .concat(),
            &[],
        )
    };
    let reports = offline(&["--generate", from_a, from_b]).json();
    let reports = reports.as_array().expect("one report per packet");
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0]["passes"][0]["datapath_actions"], "drop");
    assert_eq!(
        reports[1]["passes"][0]["datapath_actions"], "1",
        "the flow learned from the first packet sends the reply back: {reports:?}"
    );
    let err = offline(&[from_a, from_b]).err();
    assert!(err.contains("several only with --generate"), "{err}");

    // Online: a plain trace learns nothing, --generate installs the flow.
    let d = env.start(&[]);
    d.ctl(&["add-br", "br0"]).ok();
    for p in ["p1", "p2"] {
        d.ctl(&["add-port", "br0", p, "--type", "dummy"]).ok();
    }
    d.ctl(&["replace-flows", "br0", file]).ok();
    let learned = |d: &Daemon| {
        flows(d, "br0")
            .into_iter()
            .filter(|f| f["table"] == 10 && f["priority"] != 0)
            .count()
    };
    d.ctl(&["trace", "br0", from_a]).ok();
    assert_eq!(learned(&d), 0, "a plain trace has no side effects");
    let text = d.ctl(&["trace", "--generate", "br0", from_a]).ok();
    assert!(text.contains("learn("), "{text}");
    assert_eq!(learned(&d), 1, "{:?}", flows(&d, "br0"));
    let back = d.ctl(&["--format", "json", "trace", "br0", from_b]).json();
    assert_eq!(back["passes"][0]["outputs"], json!([1]), "{back}");
}

#[test]
fn json_errors_go_to_stderr_as_one_object() {
    let env = Env::new();
    let d = env.start(&[]);
    let e = d.ctl(&["--format", "json", "del-br", "nosuchbr"]).err();
    let v: Value = serde_json::from_str(e.trim()).unwrap_or_else(|x| panic!("{x}: {e}"));
    assert_eq!(
        v,
        json!({"error": "no bridge named nosuchbr", "code": "NotFound"})
    );
    let e = d
        .ctl(&["--format", "json", "add-flow", "nosuchbr", "actions=drop"])
        .err();
    let v: Value = serde_json::from_str(e.trim()).unwrap();
    assert_eq!(v["code"], json!("NotFound"));
    d.ctl(&["add-br", "br0"]).ok();
    let e = d
        .ctl(&[
            "--format",
            "json",
            "add-flow",
            "br0",
            "nw_dstt=1,actions=drop",
        ])
        .err();
    let v: Value = serde_json::from_str(e.trim()).unwrap();
    assert_eq!(v["code"], json!("InvalidArgument"));
    assert!(v["error"].as_str().unwrap().contains("nw_dstt"), "{v}");
    // No daemon at all.
    let gone = env.dir.path().join("run/none.sock");
    let e = vswitch_tests::ctl_raw(
        &[
            "--format",
            "json",
            "--server",
            &format!("unix:{}", gone.display()),
            "list-br",
        ],
        &[],
    )
    .err();
    let v: Value = serde_json::from_str(e.trim()).unwrap();
    assert_eq!(v["code"], json!("Unavailable"), "{v}");
    // Text mode is unchanged.
    let e = d.ctl(&["del-br", "nosuchbr"]).err();
    assert_eq!(e, "vswitch-ctl: error: no bridge named nosuchbr\n");
    // Deletions are logged too.
    d.ctl(&["add-port", "br0", "p1", "--type", "dummy"]).ok();
    d.ctl(&["del-port", "br0", "p1"]).ok();
    d.ctl(&["del-br", "br0"]).ok();
    let log = d.log_text();
    assert!(log.contains("port deleted"), "{log}");
    assert!(log.contains("bridge deleted"), "{log}");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn missing_system_interface_warns_and_show_tracks_link_state() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let d = env.start(&[]);
    d.ctl(&["add-br", "opbr0"]).ok();
    let name = unique("opm");
    let r = d.ctl(&["add-port", "opbr0", &name]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "vswitch-ctl: warning: no interface named {name} exists on this host; port {name} \
             stays configured, down, until the interface appears\n"
        )
    );
    let show = d.ctl(&["show"]).ok();
    assert!(
        show.contains(&format!(
            "Port {name}\n        ofport: 1\n        type: system\n        link: down\n"
        )),
        "{show}"
    );
    // JSON: the warning is a JSON object on stderr, the port's link in the reply.
    d.ctl(&["del-port", "opbr0", &name]).ok();
    let r = d.ctl(&["--format", "json", "add-port", "opbr0", &name]);
    assert!(r.status.success());
    let w: Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert!(w["warning"].as_str().unwrap().contains(&name), "{w}");
    let port: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(port["link"], json!("down"));

    // The interface appears: the port comes up, show says so, the log says so.
    let peer = format!("{name}p");
    let link = Link::veth(&name, &peer);
    vswitch_tests::netns::run("ip", &["link", "set", &name, "up"]);
    vswitch_tests::netns::run("ip", &["link", "set", &peer, "up"]);
    assert!(
        eventually(10, || d.ctl(&["show"]).ok().contains("link: up")),
        "{}",
        d.ctl(&["show"]).ok()
    );
    assert!(d.log_text().contains("port attached"), "{}", d.log_text());
    // An existing interface: no warning.
    let other = unique("opo");
    let _other_link = Link::veth(&other, &format!("{other}p"));
    let r = d.ctl(&["add-port", "opbr0", &other]);
    assert!(r.status.success() && r.stderr.is_empty(), "{}", r.stderr);
    // It goes away: down again, and logged.
    drop(link);
    assert!(
        eventually(10, || d.ctl(&["show"]).ok().contains("link: down")),
        "{}",
        d.ctl(&["show"]).ok()
    );
    assert!(
        eventually(5, || d.log_text().contains("port is down")),
        "{}",
        d.log_text()
    );
}

/// A uid and gid that exist nowhere else on the machine (no passwd entry is needed).
const OP_UID: &str = "61720";
const OP_GID: &str = "61721";

fn ctl_as(uid: &str, groups: &str, socket: &std::path::Path) -> vswitch_tests::CtlResult {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", uid, "--regid", uid]);
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        cmd.args(["--groups", groups]);
    }
    let out = cmd
        .arg(&binaries().ctl)
        .args(["--server", &format!("unix:{}", socket.display()), "list-br"])
        .output()
        .expect("run setpriv");
    vswitch_tests::CtlResult {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn listen_group_lets_its_members_use_the_socket() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    // The socket's directories must be searchable by the unprivileged user.
    std::fs::create_dir_all(env.dir.path().join("run")).unwrap();
    for dir in [env.dir.path().to_path_buf(), env.dir.path().join("run")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let d = env.start(&["--listen-group", OP_GID]);
    d.ctl(&["add-br", "opbr1"]).ok();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(env.socket()).unwrap();
    assert_eq!(meta.gid().to_string(), OP_GID);
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let member = ctl_as(OP_UID, OP_GID, &env.socket());
    assert!(member.status.success(), "{member:?}");
    assert_eq!(member.stdout, "opbr1\n");

    let outsider = ctl_as(OP_UID, "", &env.socket());
    assert_eq!(outsider.status.code(), Some(1), "{outsider:?}");
    assert!(
        outsider.stderr.contains("permission denied on unix:")
            && outsider.stderr.contains("--listen-group"),
        "{}",
        outsider.stderr
    );
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn dumps_count_on_a_terminal_only_when_stdout_is_redirected() {
    if !require_root() {
        return;
    }
    let have_script = Command::new("script").arg("--version").output().is_ok();
    assert!(
        have_script,
        "`script` (util-linux) is needed for a pseudo-terminal"
    );
    let env = Env::new();
    let d = env.start(&[]);
    d.ctl(&["add-br", "opbr2"]).ok();
    let lines: Vec<String> = (1..=2000)
        .map(|i| format!("priority={i},tcp,tp_dst={i},actions=drop"))
        .collect();
    let file = env.dir.path().join("flows.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    d.ctl(&["add-flows", "opbr2", file.to_str().unwrap()]).ok();

    let out = env.dir.path().join("dump.txt");
    let server = format!("unix:{}", d.socket.display());
    let inner = format!(
        "{} --server {server} dump-flows opbr2 > {}",
        binaries().ctl.display(),
        out.display()
    );
    // stderr (and stdin) on a pseudo-terminal, stdout to a file: the count is drawn.
    let tty = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .output()
        .unwrap();
    assert!(tty.status.success(), "{tty:?}");
    let drawn = String::from_utf8_lossy(&tty.stdout);
    assert!(drawn.contains(" flows ("), "no counter drawn: {drawn:?}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        2001,
        "the dump itself is complete and clean"
    );
    // Piped: nothing on stderr.
    let piped = d.ctl(&["dump-flows", "opbr2"]);
    assert!(piped.status.success());
    assert!(piped.stderr.is_empty(), "{}", piped.stderr);
    assert_eq!(piped.stdout.lines().count(), 2001);
}

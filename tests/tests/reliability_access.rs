//! Issue 7 item 6: who may talk to the daemon.
//!
//! - The unix socket is owned by the daemon's user and group with mode 0660 (DESIGN §4), and
//!   the kernel enforces it: a user outside the group is refused, one inside is served.
//! - A `tcp:` listener on a real (non-loopback) address is served only with mutual TLS: with
//!   certificates made here by rcgen, a client certificate signed by the configured CA is
//!   served; one signed by another CA, a self-signed one and a plain-text client are refused,
//!   and the refusals change nothing.
//!
//! (`daemon_api.rs` already checks the 0660 mode and the start-up refusal of `0.0.0.0` and
//! `[::]` without TLS; these tests add ownership, enforcement and mutual TLS.)
//!
//! The TCP cases run the daemon inside a network namespace of their own, listening on an
//! address of a veth pair there, so no port is opened on the host's interfaces.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use vswitch_tests::netns::{Netns, require_root};
use vswitch_tests::{ChildGuard, Daemon, binaries, wait_exit};

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn unix_socket_owner_group_and_mode_are_enforced() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Let other users reach the socket itself, so only its own mode decides.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("run/vswitchd.sock");
    let d = Daemon::start(&dir.path().join("conf.db"), &socket, &[]);
    std::fs::set_permissions(
        socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    assert_eq!((meta.uid(), meta.gid()), (uid, gid), "socket owner");
    d.ctl(&["add-br", "br0"]).ok();

    let as_user = |gid: u32| {
        let server = format!("unix:{}", socket.display());
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                &format!("--regid={gid}"),
                "--clear-groups",
                "--",
            ])
            .arg(&binaries().ctl)
            .args(["--server", &server, "list-br"])
            .stdin(Stdio::null())
            .output()
            .expect("run setpriv")
    };
    // nobody, in no group of the socket: refused by the kernel.
    let out = as_user(65534);
    assert!(!out.status.success(), "an outsider was served");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("permission denied"),
        "outsider error: {err}"
    );
    // nobody, but in the socket's group: served.
    let out = as_user(gid);
    assert!(
        out.status.success(),
        "a group member was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "br0\n");
}

/// PEM files of one certificate and its key.
struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

/// A certificate authority made for the test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn ca(dir: &Path, name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("vswitch test CA {name}"));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    let pem = write(dir, &format!("{name}-ca.pem"), &cert.pem());
    Ca { cert, key, pem }
}

/// A leaf certificate for `ip` (server) or a client, signed by `issuer` (self-signed if None).
fn leaf(dir: &Path, name: &str, ip: Option<&str>, issuer: Option<&Ca>) -> Pem {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    match ip {
        Some(ip) => {
            params
                .subject_alt_names
                .push(SanType::IpAddress(ip.parse().unwrap()));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        None => params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth],
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = match issuer {
        Some(ca) => params.signed_by(&key, &ca.cert, &ca.key).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Pem {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
    }
}

/// Runs vswitch-ctl inside `ns`; returns (success, stdout, stderr).
fn ctl_in(ns: &Netns, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name])
        .arg(&binaries().ctl)
        .args(args)
        .stdin(Stdio::null());
    let out = cmd.output().expect("run vswitch-ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn mutual_tls_serves_only_clients_of_the_configured_ca() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let ns = Netns::new("rtls");
    // A veth pair wholly inside the namespace gives it a non-loopback address.
    ns.exec(&[
        "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    ns.exec(&["ip", "addr", "add", "10.99.0.1/24", "dev", "v0"]);
    ns.exec(&["ip", "link", "set", "v1", "up"]);
    ns.exec(&["ip", "link", "set", "v0", "up"]);

    let good_ca = ca(p, "good");
    let rogue_ca = ca(p, "rogue");
    let server = leaf(p, "server", Some("10.99.0.1"), Some(&good_ca));
    let client = leaf(p, "client", None, Some(&good_ca));
    let rogue_client = leaf(p, "rogue-client", None, Some(&rogue_ca));
    let self_signed = leaf(p, "self-signed", None, None);

    // Without TLS the same address is refused at start-up, with a clear message.
    let log = p.join("refused.log");
    let mut refused = ChildGuard(
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(&binaries().vswitchd)
            .arg("--db")
            .arg(p.join("refused.db"))
            .args(["--listen", "tcp:10.99.0.1:0"])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let status = wait_exit(&mut refused.0, Duration::from_secs(10)).expect("refused daemon exits");
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(
            "refusing --listen tcp:10.99.0.1:0: a TCP listener on a non-loopback address needs mutual TLS"
        ),
        "{text}"
    );

    let log = p.join("tls.log");
    let mut daemon = ChildGuard(
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(&binaries().vswitchd)
            .arg("--db")
            .arg(p.join("conf.db"))
            .args(["--listen", "tcp:10.99.0.1:0"])
            .arg("--tls-cert")
            .arg(&server.cert)
            .arg("--tls-key")
            .arg(&server.key)
            .arg("--tls-client-ca")
            .arg(&good_ca.pem)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("listen=tcp:10.99.0.1:").nth(1) {
            break rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>();
        }
        if let Ok(Some(s)) = daemon.0.try_wait() {
            panic!("daemon exited ({s}): {text}");
        }
        assert!(Instant::now() < deadline, "no TLS listener: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("(mutual TLS)"),
        "the listener is not reported as mutual TLS"
    );
    let addr = format!("tcp:10.99.0.1:{port}");
    let tls_args = |who: &Pem, ca: &Path| {
        vec![
            "--server".to_owned(),
            addr.clone(),
            "--tls-cert".into(),
            who.cert.display().to_string(),
            "--tls-key".into(),
            who.key.display().to_string(),
            "--tls-ca".into(),
            ca.display().to_string(),
        ]
    };
    let run = |base: Vec<String>, cmd: &[&str]| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend_from_slice(cmd);
        ctl_in(&ns, &args)
    };

    // A client of the configured CA is served.
    let (ok, _, err) = run(tls_args(&client, &good_ca.pem), &["add-br", "br0"]);
    assert!(ok, "good client refused: {err}");

    // Clients the CA did not sign, and plain text, are refused and change nothing.
    for (who, name) in [
        (&rogue_client, "client of another CA"),
        (&self_signed, "self-signed client"),
    ] {
        let (ok, out, err) = run(tls_args(who, &good_ca.pem), &["add-br", "evil"]);
        assert!(!ok, "{name} was served: {out}");
        assert!(err.starts_with("vswitch-ctl: error:"), "{name}: {err}");
    }
    let (ok, _, err) = run(vec!["--server".into(), addr.clone()], &["add-br", "evil"]);
    assert!(!ok, "a plain-text client was served");
    assert!(err.starts_with("vswitch-ctl: error:"), "plain text: {err}");
    // A client that does not trust the server's CA stops on its own side too.
    let (ok, _, _) = run(tls_args(&client, &rogue_ca.pem), &["add-br", "evil"]);
    assert!(!ok, "a client trusted a server its CA did not sign");

    let (ok, out, err) = run(tls_args(&client, &good_ca.pem), &["list-br"]);
    assert!(ok, "good client refused after the attacks: {err}");
    assert_eq!(out, "br0\n", "refused clients changed the configuration");
}

//! Decides at build time whether this machine can run the system tests, so that a developer
//! without root sees them as *ignored* (with the reason) instead of as passed.
//!
//! Sets `cfg(no_system_tests)` when the build runs without root or without `/dev/net/tun`,
//! and `cfg(no_vm_tests)` when, in addition, QEMU is missing. Never under `CI=true`: there
//! every system test runs, and one that cannot fails.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_system_tests)");
    println!("cargo::rustc-check-cfg=cfg(no_vm_tests)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=USER");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return;
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false);
    let tun = std::path::Path::new("/dev/net/tun").exists();
    if !(root && tun) {
        println!("cargo::rustc-cfg=no_system_tests");
    }
    let qemu = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| d.join("qemu-system-x86_64").is_file())
    });
    if !(root && tun && qemu) {
        println!("cargo::rustc-cfg=no_vm_tests");
    }
}

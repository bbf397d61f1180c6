//! Issue 7 item 1: a short fuzzing pass of every cargo-fuzz target, inside `cargo test`.
//!
//! The CI runs only the README's test command, so the short fuzz run lives here: this test
//! runs `fuzz/ci.sh` (one shared build of all targets, then each target on its committed
//! seeds) and fails if any target crashed, leaked, hung or ran out of memory — or if a target
//! of `fuzz/Cargo.toml` did not run at all, ran zero executions, or has no committed seeds.
//! The script prints the executions per target; the test repeats them in its own report.
//!
//! The run is reproducible: [`DEFAULT_RUNS`] executions per target (`FUZZ_RUNS`), libFuzzer
//! seed 1 (`FUZZ_SEED`), from a fresh working corpus. A time limit made each CI run fuzz
//! different inputs, so a gate could turn red on a commit that changed nothing (it did, twice:
//! each time a new bug, since fixed and added to the seeds). Exploring is the job of the long
//! runs in fuzz/README.md; `FUZZ_SECONDS=N` here runs N seconds per target instead.
//!
//! The fuzz crate is its own workspace with its own target directory (`fuzz/target`), so the
//! nested cargo neither waits on nor invalidates the outer build. The run needs cargo-fuzz
//! (the script installs it when missing) and a C++ compiler for libFuzzer. When one cannot
//! be had the script exits with 77 and the test fails. `FUZZ_SECONDS=0` skips on purpose, at the
//! developer's explicit request (refused under CI).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Executions per target when neither `FUZZ_RUNS` nor `FUZZ_SECONDS` is set: 10 to 35 s for
/// the slowest targets (flow_table, offload_complete, action_exec) on 2 cores.
const DEFAULT_RUNS: u64 = 200_000;
/// libFuzzer's `-seed` when `FUZZ_SEED` is not set.
const DEFAULT_SEED: u64 = 1;
/// `fuzz/ci.sh`'s exit status for "a tool is missing and could not be installed".
const EXIT_MISSING_TOOL: i32 = 77;

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip(why: &str) {
    assert!(!under_ci(), "fuzz smoke test cannot run under CI: {why}");
    eprintln!("SKIPPING fuzz smoke test: {why} (this would fail under CI=true)");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `[[bin]]` names of the fuzz crate: every fuzz target.
fn manifest_targets(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(v) = line.strip_prefix("name") {
            let name = v
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            targets.push(name.to_owned());
        }
    }
    targets
}

/// Variables the outer `cargo test` sets for this process (or that would redirect the nested
/// build), which the nested cargo must not see: build scripts declare some of them
/// (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, ...) as inputs with `rerun-if-env-changed`, so
/// leaving them in would make every build inside the test differ from one run by hand (and
/// rebuild half the dependencies each time one follows the other); the target directory and
/// jobserver are the fuzz crate's own.
fn set_by_outer_cargo(name: &str) -> bool {
    const PREFIXES: [&str; 4] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_",
        "CARGO_CRATE_",
    ];
    const NAMES: [&str; 9] = [
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// One line of `fuzz/target/ci-logs/summary.tsv`.
#[derive(Debug)]
struct TargetRun {
    status: String,
    executions: u64,
    exec_per_s: u64,
    cov: u64,
    ft: u64,
    corpus: String,
}

fn read_summary(path: &Path) -> BTreeMap<String, TargetRun> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("fuzz/ci.sh wrote no summary ({}): {e}", path.display()));
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert!(f.len() >= 7, "malformed summary line {line:?}");
            let num = |s: &str| s.parse::<u64>().unwrap_or(0);
            let run = TargetRun {
                status: f[1].to_owned(),
                executions: num(f[2]),
                exec_per_s: num(f[3]),
                cov: num(f[4]),
                ft: num(f[5]),
                corpus: f[6].to_owned(),
            };
            (f[0].to_owned(), run)
        })
        .collect()
}

#[test]
fn every_fuzz_target_survives_a_short_run() {
    let root = repo_root();
    let number = |name: &str| {
        std::env::var(name).ok().map(|s| {
            s.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name}={s:?} is not a number"))
        })
    };
    // A time limit when asked for one; otherwise a fixed number of executions.
    let (budget_var, budget) = match number("FUZZ_SECONDS") {
        Some(s) => ("FUZZ_SECONDS", s),
        None => ("FUZZ_RUNS", number("FUZZ_RUNS").unwrap_or(DEFAULT_RUNS)),
    };
    if budget == 0 {
        return skip(&format!("{budget_var}=0"));
    }
    let seed = number("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let budget_text = if budget_var == "FUZZ_SECONDS" {
        format!("{budget} s per target")
    } else {
        format!("{budget} executions per target, seed {seed}")
    };

    let targets = manifest_targets(&root);
    assert!(
        targets.len() >= 8,
        "fuzz/Cargo.toml lists {targets:?}: fewer targets than issues 7 and 13 ask for"
    );
    for t in &targets {
        let seeds = std::fs::read_dir(root.join("fuzz/corpus").join(t))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().is_file())
                    .count()
            })
            .unwrap_or(0);
        assert!(
            seeds > 0,
            "fuzz target {t} has no committed seeds in fuzz/corpus/{t}"
        );
    }

    // A fresh working corpus, so that the run depends on the commit alone.
    let work = root.join("fuzz/target/smoke-corpus");
    let _ = std::fs::remove_dir_all(&work);
    let start = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("fuzz/ci.sh"))
        .current_dir(&root)
        .env_remove("FUZZ_SECONDS")
        .env_remove("FUZZ_RUNS")
        .env(budget_var, budget.to_string())
        .env("FUZZ_SEED", seed.to_string())
        .env("FUZZ_WORK", &work)
        .env("FUZZ_LOGDIR", root.join("fuzz/target/ci-logs"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_outer_cargo) {
            cmd.env_remove(name);
        }
    }
    let status = cmd.status().expect("run bash fuzz/ci.sh");
    let elapsed = start.elapsed();
    if status.code() == Some(EXIT_MISSING_TOOL) {
        panic!("fuzz smoke test cannot run: fuzz/ci.sh is missing a tool (see its message above)");
    }

    let summary = read_summary(&root.join("fuzz/target/ci-logs/summary.tsv"));
    let mut report = format!(
        "fuzz smoke run: {budget_text}, {:.0} s in all (build included)\n",
        elapsed.as_secs_f64()
    );
    for (t, r) in &summary {
        report += &format!(
            "  {t:<14} {:<6} {:>10} executions {:>7} exec/s  cov {:>5} ft {:>6} corpus {}\n",
            r.status, r.executions, r.exec_per_s, r.cov, r.ft, r.corpus
        );
    }
    eprintln!("{report}");
    assert!(
        status.success(),
        "fuzz/ci.sh failed ({status}); its output above names the target, the panic and the \
         reproducer in fuzz/artifacts\n{report}"
    );
    for t in &targets {
        let r = summary
            .get(t)
            .unwrap_or_else(|| panic!("fuzz target {t} did not run\n{report}"));
        assert_eq!(r.status, "ok", "fuzz target {t}\n{report}");
        assert!(r.executions > 0, "fuzz target {t} ran no input\n{report}");
        assert!(r.cov > 0, "fuzz target {t} reports no coverage\n{report}");
    }
}

//! The Debian package as an operator installs it: built by scripts/build-deb.sh (cargo-deb,
//! `--no-build`) from the binary this test suite already built, installed with `dpkg -i`, used
//! (`--version`, `man -w`, the watch unit through `systemd-analyze verify`), then removed with
//! `dpkg -r`, leaving none of its files under /usr. Needs root or passwordless sudo, cargo-deb,
//! man-db and systemd (scripts/testenv.sh up installs them).

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// libc calls that send signals to, or ask about, the processes under test.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_elt-console");
const PACKAGE: &str = "elt-console";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `program` as root: directly when we are root, else through `sudo -n` (CI's runners).
fn as_root(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn installed() -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", PACKAGE]))
        .stdout
        .ends_with(b" installed")
}

/// Removes the package when dropped, so a failed assertion never leaves it installed.
struct Removal;

impl Drop for Removal {
    fn drop(&mut self) {
        if installed() {
            let _ = as_root("dpkg").args(["-r", PACKAGE]).output();
        }
    }
}

#[test]
fn the_deb_installs_the_binary_man_pages_completions_and_unit_and_removes_cleanly() {
    for tool in ["cargo-deb", "dpkg", "man", "systemd-analyze"] {
        assert!(
            have(tool),
            "{tool} is not installed: run scripts/testenv.sh up"
        );
    }
    // Never touch an elt-console installed by someone else on this machine.
    assert!(
        !installed() && !Path::new("/usr/bin/elt-console").exists(),
        "elt-console is already installed here; this test installs and removes its own"
    );

    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join("elt-console.deb");
    ok(Command::new(root().join("scripts/build-deb.sh"))
        .arg(BIN)
        .arg(&deb)
        .env("ELT_DEB_FAST", "1"));
    let listing = ok(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    // Files only (directories such as /usr/bin are shared with other packages).
    let files: Vec<PathBuf> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| Path::new("/").join(p.trim_start_matches("./")))
        .collect();
    for want in [
        "/usr/bin/elt-console",
        "/usr/share/man/man1/elt-console.1.gz",
        "/usr/share/man/man1/elt-console-logs.1.gz",
        "/usr/share/bash-completion/completions/elt-console",
        "/usr/share/zsh/vendor-completions/_elt-console",
        "/usr/share/fish/vendor_completions.d/elt-console.fish",
        "/usr/lib/systemd/system/elt-console-watch.service",
    ] {
        assert!(
            files.iter().any(|f| f == Path::new(want)),
            "the package lacks {want}:\n{listing}"
        );
    }

    let _removal = Removal;
    ok(as_root("dpkg").arg("-i").arg(&deb));
    assert!(installed());

    let version = ok(Command::new("/usr/bin/elt-console").arg("--version"));
    assert_eq!(
        version.trim(),
        format!("elt-console {}", env!("CARGO_PKG_VERSION"))
    );
    let page = ok(Command::new("man").args(["-w", "elt-console"]));
    assert_eq!(page.trim(), "/usr/share/man/man1/elt-console.1.gz");
    // The page is well-formed roff that man can render.
    let text = ok(Command::new("man")
        .args(["-P", "cat", "elt-console"])
        .env("MANWIDTH", "80"));
    assert!(text.contains("elt-console"), "{text}");

    let unit = "/usr/lib/systemd/system/elt-console-watch.service";
    let unit_text = std::fs::read_to_string(unit).unwrap();
    assert!(
        unit_text
            .lines()
            .any(|l| l == "ExecStart=/usr/bin/elt-console watch"),
        "the installed unit runs the installed binary:\n{unit_text}"
    );
    // verify reports problems as warnings with rc 0: any output is a failure.
    let out = run(Command::new("systemd-analyze").args(["verify", "--man=no", unit]));
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify {unit}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    ok(as_root("dpkg").args(["-r", PACKAGE]));
    assert!(!installed());
    let left: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    assert!(left.is_empty(), "dpkg -r left files behind: {left:?}");
}

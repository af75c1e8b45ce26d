//! Records which commit the binary is built from, for `soporte --version`
//! and the `soporte_build_info` metric. Hand-written rather than a crate
//! (vergen and the like bring a git library or a dozen dependencies for
//! one `git rev-parse`); without git, or outside a checkout, it is
//! "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SOPORTE_GIT_COMMIT={commit}");
    // Built again when HEAD moves (a commit, a checkout), not on every build.
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
    {
        let git_dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !git_dir.is_empty() {
            println!("cargo:rerun-if-changed={git_dir}/HEAD");
            println!("cargo:rerun-if-changed={git_dir}/refs/heads");
            println!("cargo:rerun-if-changed={git_dir}/packed-refs");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

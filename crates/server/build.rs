//! Two things the binary learns at build time:
//! - which commit it is built from, for `soporte --version` and the
//!   `soporte_build_info` metric. Hand-written rather than a crate (vergen and
//!   the like bring a git library or a dozen dependencies for one
//!   `git rev-parse`); `SOPORTE_GIT_COMMIT` names it where there is no checkout
//!   (a container build), else "unknown".
//! - the web build (`web/dist-demo`: customer page, agent console, widget),
//!   embedded by memory-serve, brotli-compressed, so that one file serves
//!   everything. Without a web build the binary still builds (Rust alone is
//!   enough to work on the server); it then serves no pages.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    commit();
    web();
}

fn commit() {
    println!("cargo:rerun-if-env-changed=SOPORTE_GIT_COMMIT");
    let given = std::env::var("SOPORTE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let commit = given
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .and_then(|out| String::from_utf8(out.stdout).ok())
                .map(|text| text.trim().to_string())
                .filter(|text| !text.is_empty())
        })
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
}

fn web() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist-demo");
    // memory-serve would print a warning per embedded file.
    std::env::set_var("MEMORY_SERVE_QUIET", "1");
    if dist.join("index.html").is_file() {
        // Embedded in every profile, so that a debug build is as
        // self-contained as a release (the tests run the debug binary from an
        // empty folder). memory-serve watches the folder for changes.
        memory_serve::load_directory_with_embed(&dist, true);
        println!("cargo:rustc-env=SOPORTE_WEB_EMBEDDED=1");
    } else {
        // A path that does not exist makes cargo run this again on every
        // build, so the pages are picked up once they are built.
        println!("cargo:rerun-if-changed={}", dist.display());
        println!("cargo:warning=web/dist-demo is not built, so this binary serves no web pages (scripts/build-web builds them)");
        let empty = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("no-web");
        std::fs::create_dir_all(&empty).expect("create an empty asset folder");
        memory_serve::load_directory_with_embed(&empty, true);
        println!("cargo:rustc-env=SOPORTE_WEB_EMBEDDED=0");
    }
}

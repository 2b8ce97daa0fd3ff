//! Records how the extension was built, for `symphony_pit.BUILD_INFO`.
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    println!(
        "cargo:rustc-env=PIT_RUSTC_VERSION={}",
        output(&rustc, &["--version"])
    );
    println!(
        "cargo:rustc-env=PIT_GIT_COMMIT={}",
        output("git", &["rev-parse", "--short=12", "HEAD"])
    );
    println!(
        "cargo:rustc-env=PIT_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!(
        "cargo:rustc-env=PIT_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
    println!("cargo:rerun-if-changed=build.rs");
    // The commit recorded above must follow new commits: rerun when HEAD or the branch moves.
    let git_dir = output("git", &["rev-parse", "--absolute-git-dir"]);
    if git_dir != "unknown" {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        let branch = output("git", &["symbolic-ref", "-q", "HEAD"]);
        if branch != "unknown" {
            println!("cargo:rerun-if-changed={git_dir}/{branch}");
        }
    }
}

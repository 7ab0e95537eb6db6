//! Records how the binary was built, so every run can say so: the compiler's version and the
//! project's git revision (both "unknown" when they cannot be read).

use std::process::Command;

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WORKBENCH_RUSTC={version}");
    let mut revision =
        output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    if output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some() {
        revision.push_str("-dirty");
    }
    println!("cargo:rustc-env=WORKBENCH_GIT_REVISION={revision}");
    // Asked of git, not assumed to be `.git/…`: in a worktree `.git` is a file, and a path that
    // does not exist would make cargo run this script (and relink the binary) on every build.
    for file in ["HEAD", "refs/heads", "index"] {
        let path = output("git", &["rev-parse", "--git-path", file])
            .unwrap_or_else(|| format!(".git/{file}"));
        println!("cargo:rerun-if-changed={path}");
    }
}

// Shared by the build scripts of `crema` (build.rs) and `crema-desktop`
// (src-tauri/build.rs) through `include!`: sets `CREMA_GIT_COMMIT` for the
// crate, which its `--version` prints.
//
// The value: `CREMA_GIT_COMMIT` from the environment when set (a build from
// a source archive or inside a container, where there is no `.git`), else
// `git rev-parse --short=12 HEAD` in the crate's folder, else `unknown`.

/// Emits `cargo:rustc-env=CREMA_GIT_COMMIT=…` and what cargo should watch to
/// run the build script again (the environment variable, `HEAD`, the branch's
/// ref and `packed-refs`; only files that exist, or cargo would rerun it on
/// every build).
fn emit_git_commit(dir: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=CREMA_GIT_COMMIT");
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).current_dir(dir).output().ok()?;
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    let from_env = std::env::var("CREMA_GIT_COMMIT").ok().filter(|s| !s.trim().is_empty());
    let commit = from_env.or_else(|| git(&["rev-parse", "--short=12", "HEAD"])).unwrap_or_else(|| "unknown".into());
    if let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--path-format=absolute", "--git-dir"]),
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ) {
        let git_dir = std::path::PathBuf::from(git_dir);
        let common = std::path::PathBuf::from(common);
        let mut watch = vec![git_dir.join("HEAD"), common.join("packed-refs")];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(common.join(r));
        }
        for p in watch.into_iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    println!("cargo:rustc-env=CREMA_GIT_COMMIT={commit}");
}

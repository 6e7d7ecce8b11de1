//! Build script: makes sure the frontend folder exists, then runs
//! `tauri_build` (config, capabilities, icons).
//!
//! `tauri::generate_context!` embeds `build.frontendDist` (`../ui/dist`) at
//! compile time and fails when the folder is missing. The web UI is built
//! separately (`npm --prefix ui run build`), so a plain `cargo build` on a
//! checkout without it (CI's clippy and tests) would fail. When
//! `ui/dist/index.html` is missing this script copies the committed fallback
//! page (`src-tauri/fallback-ui/`: a small job list that says how to build
//! the real UI) there, with a `.crema-fallback` marker. Vite empties
//! `ui/dist` on its next build, replacing it.
//!
//! It also records the git commit for `crema-desktop --version`
//! (`packaging/build/git_commit.rs`, shared with the `crema` binary).

use std::path::Path;

include!("../packaging/build/git_commit.rs");

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = manifest.join("../ui/dist");
    let fallback = manifest.join("fallback-ui");
    println!("cargo:rerun-if-changed=../ui/dist/index.html");
    println!("cargo:rerun-if-changed=fallback-ui");
    let missing = !dist.join("index.html").exists() || dist.join(".crema-fallback").exists();
    if missing && let Err(e) = copy_fallback(&fallback, &dist) {
        panic!("cannot create the fallback UI in {}: {e}", dist.display());
    }
    println!("cargo:rerun-if-changed=../packaging/build/git_commit.rs");
    emit_git_commit(manifest);
    tauri_build::build();
}

fn copy_fallback(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    std::fs::write(to.join(".crema-fallback"), "copied by src-tauri/build.rs: ui/dist was not built\n")
}

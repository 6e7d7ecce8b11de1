//! Build script of the `crema` binary: records the git commit for
//! `crema --version` (see `packaging/build/git_commit.rs`).

include!("packaging/build/git_commit.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=packaging/build/git_commit.rs");
    emit_git_commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
}

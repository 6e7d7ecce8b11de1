#!/usr/bin/env bash
# Keeps unused dependencies out (issue 10): cargo-machete reads every
# crate's sources for the crates its Cargo.toml names and fails on one that
# is never used. Installed from the crate registry when missing (about two
# minutes on 2 cores; pinned for reproducible results).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-machete >/dev/null 2>&1; then
  echo "deps-check: installing cargo-machete 0.9.2" >&2
  cargo install cargo-machete --version 0.9.2 --locked >/dev/null
fi
cargo machete

#!/usr/bin/env bash
# The README's second command: install what is missing, prepare the test
# media, then run every check CI runs: formatting, clippy with warnings as
# errors, and the whole test suite (unit and integration, real FFmpeg on
# real media), then the web UI's checks and its browser end-to-end test
# against the `crema` binary the tests just built, then the desktop app's
# smoke test under Xvfb (tauri-driver + WebKitWebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bash fixtures/prepare.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
cargo build --locked -p crema
bash scripts/ui-test.sh
bash scripts/desktop-smoke.sh

# Packages (README "Install"): the debug build packaged and installed into a
# clean Debian 12 root, and the container image smoke-tested. Runs when root
# and the packaging tools are present, else prints "package-test: SKIPPED"
# and why; CREMA_PACKAGE_TEST=1 installs the tools and runs it, =0 skips it.
bash scripts/package-test.sh --ci

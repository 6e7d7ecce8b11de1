#!/usr/bin/env bash
# The README's second command: install what is missing, prepare the test
# media, then run every check CI runs: formatting, clippy with warnings as
# errors, and the whole test suite (unit and integration, real FFmpeg on
# real media), then the /v1 API fuzzing with schemathesis against
# `crema serve`, the web UI's checks and its browser end-to-end test
# against the `crema` binary the tests just built, then the desktop app's
# smoke test under Xvfb (tauri-driver + WebKitWebDriver).
#
# Every step runs even when an earlier one fails (`cargo test
# --no-fail-fast` likewise), so one failure never hides the rest; the
# script exits non-zero when any step failed and names them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bash fixtures/prepare.sh >/dev/null

failed=()
# No step may take the whole CI budget: one that hangs (a test waiting
# forever) is stopped after CREMA_STEP_TIMEOUT seconds (default 3000: four
# times the longest step, `cargo test` with its build on a fresh 2-core
# machine), counted as failed, and the steps after it still run; the run
# then still ends inside CI's 90 minutes. libtest names a test running over
# 60 s in the log.
step_limit=${CREMA_STEP_TIMEOUT:-3000}
step() {
  echo "== $*" >&2
  local start=$SECONDS rc=0
  timeout --kill-after=30 "$step_limit" "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "== stopped after ${step_limit} s (CREMA_STEP_TIMEOUT): $*" >&2
    failed+=("$*")
  fi
  echo "== took $((SECONDS - start)) s: $*" >&2
}
step cargo fmt --all -- --check
step python3 scripts/check-doc-links.py
step bash scripts/deps-check.sh
step bash scripts/deny-check.sh
step cargo clippy --locked --workspace --all-targets -- -D warnings
step cargo test --locked --workspace --no-fail-fast
# The service suite again on PostgreSQL (a throwaway cluster the tests start):
# one matrix, two stores. `--workspace --test service` selects the service's
# suite binary with the features the workspace build above resolved, so
# nothing is compiled again (`-p crema-service` resolves its own features
# and rebuilt for minutes).
step env CREMA_TEST_DATABASE=postgres cargo test --locked --workspace --no-fail-fast --test service
# target/debug/crema for the steps below: `cargo test` built it for the CLI
# suite, so this is a no-op after it (`cargo build` would resolve features
# without the dev-dependencies and rebuild shared crates for minutes).
step cargo test --locked --workspace --no-run
# Every `crema …` command line in the docs names subcommands and flags this binary has.
step python3 scripts/check-doc-commands.py target/debug/crema
step bash scripts/api-fuzz.sh target/debug/crema
step bash scripts/ui-test.sh
step bash scripts/desktop-smoke.sh
# Packages (README "Install"): the debug build packaged and installed into a
# clean Debian 12 root, and the container image smoke-tested. Runs when root
# and the packaging tools are present, else prints "package-test: SKIPPED"
# and why; CREMA_PACKAGE_TEST=1 installs the tools and runs it, =0 skips it.
step bash scripts/package-test.sh --ci
if [ ${#failed[@]} -gt 0 ]; then
  printf 'test: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "test: all steps passed" >&2

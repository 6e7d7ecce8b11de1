#!/usr/bin/env bash
# Licences, bans and sources of the dependency tree (deny.toml), with
# cargo-deny pinned to 0.20.2 and installed from the crate registry into the
# tools folder when missing (about five minutes on 2 cores, once).
# `--advisories` also checks the RustSec advisories: that fetches the
# advisory database from the internet, so it is not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${CREMA_TOOLS:-$HOME/.cache/crema/tools}"
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"
if [ "$(cargo-deny --version 2>/dev/null)" != "cargo-deny 0.20.2" ]; then
  echo "deny-check: installing cargo-deny 0.20.2 into $tools" >&2
  cargo install cargo-deny --version 0.20.2 --locked --root "$tools" >/dev/null
fi
checks=(licenses bans sources)
[ "${1:-}" = "--advisories" ] && checks+=(advisories)
# Errors only: the duplicate-version warnings (bans.multiple-versions =
# "warn") print whole dependency trees; `CREMA_DENY_LOG=warn` shows them.
cargo deny --log-level "${CREMA_DENY_LOG:-error}" check "${checks[@]}"

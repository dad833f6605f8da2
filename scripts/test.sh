#!/usr/bin/env bash
# The project's one test command (README, .ci/run, .github/workflows/ci.yml).
# Brings up the real test environment (dockerd, an OCI registry, compose, stub images), then
# runs every test. A missing engine fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/testenv.sh up
if [[ -x scripts/validate-files.sh ]]; then
  scripts/validate-files.sh
fi
cargo test --all-targets --locked "$@"

#!/usr/bin/env bash
# The main job: set up, then train the digit CNN on the embedded sample (or as the flags say).
# Usage: scripts/train.sh [trackbench train flags...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" release
exec "$root/build/release/cli/trackbench" train "$@"

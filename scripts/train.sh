#!/usr/bin/env bash
# The main job: set up what training needs (scripts/setup.sh --only-training: the Debian packages
# and LibTorch the trackbench executable builds with, and that one target), then train the digit
# CNN on the embedded sample (or as the flags say). scripts/test.sh sets up everything else.
# Usage: scripts/train.sh [trackbench train flags...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" --only-training release
exec "$root/build/release/cli/trackbench" train "$@"

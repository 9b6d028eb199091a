#!/usr/bin/env bash
# The chaos harness's short version, for the test suite: about a minute over the faults kill, roll and store, with
# the pass criteria asserted. Its last line is "chaos: N passed, N failed" (one check per criterion); exit 1 when one
# fails. Arguments pass through to scripts/chaos (e.g. --fault kill, --seed 7).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
exec "$ROOT/scripts/chaos" --short "$@"

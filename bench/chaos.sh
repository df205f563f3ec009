#!/usr/bin/env bash
# Repeats the chaos tests with different seeds and prints how many runs finished bit-identical.
#   bench/chaos.sh node         # SIGKILL one node during stage 2, 20 seeds
#   bench/chaos.sh coordinator  # SIGKILL the coordinator during stage 2 and resume, 10 seeds
set -uo pipefail
cd "$(dirname "$0")/.."
kind="${1:-node}"
case "$kind" in
  node) test="ResumeTests.ANodeKilledDuringStageTwoLeavesTheResultUnchanged"; runs=20 ;;
  coordinator) test="ResumeTests.TheCoordinatorKilledDuringStageTwoResumesToTheSameResult"; runs=10 ;;
  *) echo "usage: $0 node|coordinator" >&2; exit 2 ;;
esac
dotnet build tests/Copal.Tests -v q >/dev/null || exit 1
passed=0
for seed in $(seq 1 "$runs"); do
  if COPAL_CHAOS_SEED="$seed" dotnet test tests/Copal.Tests --no-build --filter "FullyQualifiedName~$test" >/dev/null 2>&1; then
    passed=$((passed + 1)); echo "seed $seed: identical"
  else
    echo "seed $seed: FAILED"
  fi
done
echo "$kind chaos: $passed/$runs bit-identical"

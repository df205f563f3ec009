#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside bytes (bench/fuzz/Copal.Fuzz) with AFL++ and SharpFuzz.
#   bench/fuzz.sh                       # every target, 60 s each
#   bench/fuzz.sh --seconds 120 journal # one target, 120 s
#   bench/fuzz.sh --no-save             # leave tests/assets/fuzz as it is
# Each target starts from its seeds and its corpus in tests/assets/fuzz/TARGET; what AFL++ found is
# minimised (afl-cmin) back into that corpus, crashes and hangs kept as crash-*, for the tests to replay.
# Prints AFL++'s own figures per target; exits 1 if any target saved a crash or a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
seconds=60
save=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --no-save) save=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
# The corpus stays small enough to replay in the unit tests.
max_corpus=30

if ! command -v afl-fuzz >/dev/null; then
  apt-get update -qq && apt-get install -y -qq afl++ >/dev/null
fi

work="${FUZZ_WORK:-$root/bench/fuzz/out}"
rm -rf "$work" && mkdir -p "$work"
app="$work/app"
dotnet publish bench/fuzz/Copal.Fuzz -c Release -o "$app" -v q --nologo >/dev/null
harness=("$app/copal-fuzz")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${harness[@]}" list)
# Seeds before instrumenting: instrumented code runs only under afl-fuzz, which maps the coverage memory.
for target in "${targets[@]}"; do
  "${harness[@]}" seeds "$target" "$work/$target/in"
  [ -d "tests/assets/fuzz/$target" ] && cp tests/assets/fuzz/"$target"/* "$work/$target/in"/ 2>/dev/null || true
done
(cd bench/fuzz && dotnet tool restore >/dev/null)
# The project's parsers, and Parquet.Net under the Parquet reader; System.Text.Json is the runtime's and stays uninstrumented.
for assembly in Copal.Shared.dll Parquet.dll; do
  (cd bench/fuzz && dotnet sharpfuzz "$app/$assembly" >/dev/null)
done

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
failed=0
printf '%-18s %10s %8s %8s %8s %8s\n' target execs_done execs/s corpus crashes hangs
for target in "${targets[@]}"; do
  corpus="$root/tests/assets/fuzz/$target"
  in="$work/$target/in" out="$work/$target/out"
  # -t: the tests' limit of one second per input; -m none: .NET reserves far more address space than it uses.
  afl-fuzz -i "$in" -o "$out" -t 1000 -m none -V "$seconds" -- "${harness[@]}" run "$target" >"$work/$target/afl.log" 2>&1 || {
    echo "$target: afl-fuzz failed, see $work/$target/afl.log" >&2; tail -5 "$work/$target/afl.log" >&2; failed=1; continue; }
  stats="$out/default/fuzzer_stats"
  stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  printf '%-18s %10s %8s %8s %8s %8s\n' "$target" "$(stat execs_done)" "$(stat execs_per_sec)" "$(stat corpus_count)" "$(stat saved_crashes)" "$(stat saved_hangs)"
  [ "$(stat saved_crashes)" = 0 ] && [ "$(stat saved_hangs)" = 0 ] || failed=1

  if [ "$save" = 1 ]; then
    min="$work/$target/min"
    afl-cmin -i "$out/default/queue" -o "$min" -t 5000 -m none -- "${harness[@]}" run "$target" >"$work/$target/cmin.log" 2>&1 \
      || cp -r "$out/default/queue" "$min"
    # Named by content: the smallest inputs up to the cap replace the last run's; crashes and hangs (crash-*) stay for good.
    mkdir -p "$corpus"
    find "$corpus" -maxdepth 1 -type f ! -name 'crash-*' -delete
    find "$min" -maxdepth 1 -type f -printf '%s %p\n' | sort -n | head -n "$max_corpus" | cut -d' ' -f2- | while read -r file; do
      cp "$file" "$corpus/$(sha256sum "$file" | cut -c1-16)"
    done
    find "$out/default/crashes" "$out/default/hangs" -maxdepth 1 -type f -name 'id:*' | while read -r file; do
      cp "$file" "$corpus/crash-$(sha256sum "$file" | cut -c1-16)"
    done
  fi
done
exit "$failed"

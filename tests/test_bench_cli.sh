#!/usr/bin/env bash
# specdec bench from the command line on the CPU: the JSON holds the decode figures, T(k)/T(1) for
# k = 1..16 starting at 1, and the SPECDEC_* environment it ran under; bad options give exactly one
# error line and exit status 2.
source "$(dirname "$0")/cli_lib.sh" "$1"
stories="$models/tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin"

SPECDEC_CUDA_SKIP=5 SPECDEC_TEST_MARK=bench-cli "$bin" bench --device cpu --target "$stories" --context 16 --iters 2 \
  --out "$tmp/bench.json" >"$tmp/out" 2>"$tmp/err" || { echo "FAIL: bench exited $?: $(cat "$tmp/err")"; fail=1; }
json=$(tr -d ' \t\n' <"$tmp/bench.json")
grep -q '"environment":{[^}]*"SPECDEC_CUDA_SKIP":"5"' <<<"$json" || { echo "FAIL: environment lacks SPECDEC_CUDA_SKIP: $json"; fail=1; }
grep -q '"SPECDEC_TEST_MARK":"bench-cli"' <<<"$json" || { echo "FAIL: environment lacks SPECDEC_TEST_MARK: $json"; fail=1; }
grep -q '"device":"cpu"' <<<"$json" || { echo "FAIL: device is not cpu: $json"; fail=1; }
grep -qE '"latency_ms":[0-9.e-]+' <<<"$json" || { echo "FAIL: no decode latency: $json"; fail=1; }
costs=$(grep -oE '"verify_cost":\[[^]]*\]' <<<"$json")
[ "$(grep -o '"k":' <<<"$costs" | wc -l)" = 16 ] || { echo "FAIL: verify_cost should have 16 entries: $costs"; fail=1; }
grep -qE '^"verify_cost":\[\{"k":1,"ms":[0-9.e-]+,"ratio":1\}' <<<"$costs" || { echo "FAIL: T(1)/T(1) is not 1: $costs"; fail=1; }
# the CPU target ignores SPECDEC_CUDA_SKIP, so bench must not call its rate unreal there
grep -q "not real" "$tmp/out" && { echo "FAIL: the SPECDEC_CUDA_SKIP note on a CPU run"; fail=1; }

base=(bench --device cpu --target "$stories" --out "$tmp/bad.json")
expect_fatal "context too long" "--context 99999" "$bin" "${base[@]}" --context 99999
expect_fatal "zero iters" "--iters" "$bin" "${base[@]}" --iters 0
expect_fatal "gamma 0" "--gamma" "$bin" "${base[@]}" --gamma 0
expect_fatal "unknown device" "tpu" "$bin" "${base[@]}" --device tpu
expect_fatal "unknown option" "--gama" "$bin" "${base[@]}" --gama 3
expect_fatal "missing model" "" "$bin" bench --device cpu --target "$tmp/nothing-here"
[ ! -e "$tmp/bad.json" ] || { echo "FAIL: a rejected bench wrote its JSON"; fail=1; }
exit $fail

#!/usr/bin/env bash
# specdec generate from the command line: a real generation with --json, streamed text, and every
# bad input of issues 2 and 4 giving exactly one error line and exit status 2.
source "$(dirname "$0")/cli_lib.sh" "$1"
stories="$models/tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin"
pycode="$models/pycode/pycode-1m"

out=$("$bin" generate --target "$stories" --prompt-ids 1 --max-new-tokens 40 --json 2>"$tmp/err")
if ! grep -q '"text":"Once upon a time, there was a little girl named Lily' <<<"$out"; then
  echo "FAIL: stories260K greedy JSON: $out $(cat "$tmp/err")"; fail=1
fi
for key in prompt_ids tokens text metrics tokens_per_s target_calls prefill_ms; do
  grep -q "\"$key\"" <<<"$out" || { echo "FAIL: --json lacks \"$key\""; fail=1; }
done
text=$("$bin" generate --target "$stories" --prompt "Once upon a time" --max-new-tokens 20 2>/dev/null)
grep -q "^Once upon a time" <<<"$text" || { echo "FAIL: streamed text: $text"; fail=1; }
out=$("$bin" generate --target "$stories" --prompt-ids 1 --max-new-tokens 30 --drafter lookup:3 --gamma 4 --json --num-samples 2 --temperature 0.8 --seed 5 2>&1)
[ "$(grep -c '"metrics"' <<<"$out")" = 2 ] || { echo "FAIL: --num-samples 2 should print 2 JSON lines: $out"; fail=1; }
# a drafter rounded to bf16 changes acceptance at most, never the greedy text
ar=$("$bin" generate --target "$stories" --prompt-ids 1 --max-new-tokens 40 2>/dev/null)
sp=$("$bin" generate --target "$stories" --prompt-ids 1 --max-new-tokens 40 --decoder spec --drafter "model:$stories@bf16" --gamma 4 2>/dev/null)
[ -n "$ar" ] && [ "$ar" = "$sp" ] || { echo "FAIL: greedy text with a model:...@bf16 drafter: '$sp', autoregressive '$ar'"; fail=1; }

expect_error() { # description, then the command's arguments
  local what="$1"; shift
  expect_fatal "$what" "" "$bin" "$@"
}
base=(generate --target "$stories" --prompt-ids 1 --max-new-tokens 4)
expect_error "gamma 0" "${base[@]}" --drafter lookup:3 --gamma 0
expect_error "gamma 65" "${base[@]}" --drafter lookup:3 --gamma 65
expect_error "top_p 0" "${base[@]}" --temperature 1 --top-p 0
expect_error "top_p 1.5" "${base[@]}" --temperature 1 --top-p 1.5
expect_error "negative temperature" "${base[@]}" --temperature -0.5
expect_error "repetition penalty 0" "${base[@]}" --repetition-penalty 0
expect_error "unknown drafter" "${base[@]}" --drafter bogus:3
expect_error "missing bf16 drafter" "${base[@]}" --drafter "model:$tmp/nothing-here@bf16"
expect_error "vocabulary mismatch" generate --target "$pycode" --prompt-ids 0 --max-new-tokens 4 --drafter "model:$stories"
expect_error "unknown option" "${base[@]}" --gama 3
expect_error "missing model" generate --target "$tmp/nothing-here" --prompt-ids 1
expect_error "id outside vocabulary" generate --target "$stories" --prompt-ids 1,99999
expect_error "unknown decoder" "${base[@]}" --decoder fast
expect_error "draft-ahead on the CPU" "${base[@]}" --decoder spec --drafter "model:$stories" --draft-ahead 2 --device cpu
expect_error "negative draft-ahead" "${base[@]}" --decoder spec --drafter "model:$stories" --draft-ahead -1
[ $fail = 0 ] && echo "test_generate_cli: ok" || echo "test_generate_cli: FAILED"
exit $fail

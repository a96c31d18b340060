#!/usr/bin/env bash
# specdec run refuses every bad config before any run starts: exit status 2, exactly one error line
# naming the problem, and no results file written.
source "$(dirname "$0")/cli_lib.sh" "$1"

good='{
  "target": "tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin",
  "drafters": ["lookup:3"],
  "gammas": [2],
  "samplers": [{"temperature": 0}],
  "dataset": {"path": "tinystories_val.txt", "format": "text", "prefix_words": 6},
  "n_prompts": 2,
  "max_new_tokens": 8,
  "device": "cpu"
}'
: >"$tmp/empty.txt"
printf '\n   \n\n' >"$tmp/blank.txt"

# case: description, the text to replace in $good, its replacement, a piece of the expected message
check() {
  local what="$1" from="$2" to="$3" needle="$4"
  printf '%s' "${good/"$from"/"$to"}" >"$tmp/bad.json"
  cmp -s "$tmp/bad.json" <(printf '%s' "$good") && { echo "TEST BUG: '$from' not found for: $what"; fail=1; return; }
  rm -f "$tmp/out.jsonl"
  expect_fatal "$what" "$needle" "$bin" run "$tmp/bad.json" --out "$tmp/out.jsonl"
  [ ! -e "$tmp/out.jsonl" ] || { echo "FAIL: $what: a results file was written"; fail=1; }
}

check "unknown key" '"gammas": [2],' '"gammas": [2], "gama": [4],' 'unknown key "gama" (allowed: name, description, target, drafters, gammas'
check "unknown sampler key" '"temperature": 0' '"temp": 0' 'samplers[0]: unknown key "temp" (allowed: temperature'
check "unknown dataset key" '"prefix_words": 6' '"prefix_word": 6' 'dataset: unknown key "prefix_word"'
check "wrong type (string for an integer)" '"max_new_tokens": 8' '"max_new_tokens": "8"' '"max_new_tokens" must be an integer, got a string'
check "wrong type (number for a list)" '"gammas": [2]' '"gammas": 2' '"gammas" must be an array, got a number'
check "wrong type (drafter)" '["lookup:3"]' '[3]' '"drafters"[0] must be a non-empty string'
check "missing dataset" '"tinystories_val.txt"' '"no_such_file.jsonl"' 'dataset no_such_file.jsonl not found'
check "empty dataset" '"tinystories_val.txt"' "\"$tmp/empty.txt\"" 'holds no prompts'
check "blank dataset" '"tinystories_val.txt"' "\"$tmp/blank.txt\"" 'holds no prompts'
check "too few prompts" '"n_prompts": 2' '"n_prompts": 100000' 'n_prompts is 100000 but'
check "empty grid: no drafters" '["lookup:3"]' '[]' '"drafters" is empty'
check "empty grid: no gammas" '"gammas": [2]' '"gammas": []' '"gammas" and "egag" are both empty'
check "empty grid: no samplers" '[{"temperature": 0}]' '[]' '"samplers" is empty'
check "empty grid: no targets" '"target": "tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin"' '"target": []' '"target" is empty'
check "sampler out of range" '"temperature": 0' '"temperature": 0.7, "top_p": 1.5' 'top_p'
check "gamma out of range" '"gammas": [2]' '"gammas": [65]' '"gammas[0]" must be in [1, 64]'
check "unknown drafter spec" '["lookup:3"]' '["lookahead:3"]' "unknown drafter spec 'lookahead:3'"
check "drafter vocabulary mismatch" '["lookup:3"]' '["lookup:3", "model:pycode/pycode-1m"]' 'vocabulary size 8192 differs'
check "missing target model" 'tinystories_260k/checkpoint_legacy.bin' 'tinystories_260k/missing.bin' 'missing.bin'
check "bad device" '"device": "cpu"' '"device": "tpu"' '"device" must be "cpu" or "cuda"'
check "draft-ahead on the CPU" '["lookup:3"]' '["model:tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin"], "draft_ahead": 2' '"draft_ahead" needs the cuda device, not cpu'
check "draft-ahead without a model drafter" '"gammas": [2],' '"gammas": [2], "draft_ahead": 2,' '"draft_ahead" needs a model drafter'
check "not JSON" '"n_prompts": 2,' '"n_prompts": 2' 'not valid JSON'

printf '%s' "$good" >"$tmp/good.json"
"$bin" run "$tmp/good.json" --out "$tmp/out.jsonl" --bogus >/dev/null 2>"$tmp/err"
{ [ $? = 2 ] && grep -q "unknown option '--bogus'" "$tmp/err"; } || { echo "FAIL: unknown option: $(cat "$tmp/err")"; fail=1; }
"$bin" run "$tmp/missing.json" >/dev/null 2>"$tmp/err"
{ [ $? = 2 ] && grep -q "missing.json: cannot open" "$tmp/err"; } || { echo "FAIL: missing config: $(cat "$tmp/err")"; fail=1; }
# and the good config runs
"$bin" run "$tmp/good.json" --out "$tmp/out.jsonl" >/dev/null 2>"$tmp/err" || { echo "FAIL: the good config: $(cat "$tmp/err")"; fail=1; }

[ $fail = 0 ] && echo "test_run_bad_config: ok"
exit $fail

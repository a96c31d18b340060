#!/usr/bin/env bash
# specdec run --resume after real SIGKILLs: a child `specdec run` is killed twice in the middle of
# the grid, a torn last line is appended by hand (what a kill inside write() can leave), and
# --resume finishes the job. The file must then hold exactly the run ids of an uninterrupted run,
# none twice, every line valid JSON, and every run the same output (runs are seeded).
source "$(dirname "$0")/cli_lib.sh" "$1"

cat >"$tmp/exp.json" <<'EOF'
{
  "target": "tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin",
  "drafters": ["lookup:3", "ngram:3"],
  "gammas": [2, 4],
  "samplers": [{"temperature": 0}, {"temperature": 1.0, "top_k": 20}],
  "dataset": {"path": "tinystories_val.txt", "format": "text", "prefix_words": 6},
  "n_prompts": 30,
  "max_new_tokens": 48,
  "device": "cpu"
}
EOF
total=300   # 2 samplers x 30 prompts x (1 baseline + 2 drafters x 2 gammas)

ids_and_outputs() { # run_id and output_hash of every run line, sorted
  grep -o '"run_id":"[0-9a-f]*"\|"output_hash":"[0-9a-f]*"' "$1" | paste -d' ' - - | sort
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

"$bin" run "$tmp/exp.json" --out "$tmp/ref.jsonl" >/dev/null 2>"$tmp/ref.err" || { echo "FAIL: reference run: $(cat "$tmp/ref.err")"; exit 1; }
[ "$(lines "$tmp/ref.jsonl")" = $((total + 1)) ] || { echo "FAIL: reference has $(lines "$tmp/ref.jsonl") lines, want $((total + 1))"; exit 1; }

# Starts a run in the background and SIGKILLs it once the file holds more than $1 lines.
kill_after() {
  local want=$1 pid
  "$bin" run "$tmp/exp.json" --out "$tmp/cut.jsonl" --resume >/dev/null 2>>"$tmp/cut.err" &
  pid=$!
  while [ "$(lines "$tmp/cut.jsonl")" -le "$want" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  if ! kill -KILL "$pid" 2>/dev/null; then
    echo "FAIL: the run ended before it could be killed at $want lines (grid too small for this machine)"; fail=1
  fi
  wait "$pid" 2>/dev/null
  local have
  have=$(lines "$tmp/cut.jsonl")
  echo "killed with $have lines in the file"
  [ "$have" -lt $((total + 1)) ] || { echo "FAIL: killed after the last run"; fail=1; }
}
kill_after 40
kill_after 150
# A kill inside write() leaves a line without its newline: resume must cut it away.
printf '{"type":"run","run_id":"0123456789abcdef","settings":{"drafter":"look' >>"$tmp/cut.jsonl"
"$bin" run "$tmp/exp.json" --out "$tmp/cut.jsonl" --resume >/dev/null 2>"$tmp/resume.err" ||
  { echo "FAIL: final resume: $(cat "$tmp/resume.err")"; fail=1; }
grep -q "dropping an incomplete last line" "$tmp/resume.err" || { echo "FAIL: the torn line was not reported"; fail=1; }

[ "$(lines "$tmp/cut.jsonl")" = $((total + 1)) ] || { echo "FAIL: resumed file has $(lines "$tmp/cut.jsonl") lines, want $((total + 1))"; fail=1; }
[ "$(tail -c 1 "$tmp/cut.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || { echo "FAIL: the file does not end with a newline"; fail=1; }
dups=$(grep -o '"run_id":"[0-9a-f]*"' "$tmp/cut.jsonl" | sort | uniq -d)
[ -z "$dups" ] || { echo "FAIL: duplicated run ids: $dups"; fail=1; }
if ! diff <(ids_and_outputs "$tmp/ref.jsonl") <(ids_and_outputs "$tmp/cut.jsonl") >"$tmp/diff"; then
  echo "FAIL: the resumed file's runs differ from the uninterrupted run's:"; head -5 "$tmp/diff"; fail=1
fi
if command -v python3 >/dev/null; then
  python3 -c 'import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    rec = json.loads(line)
    assert rec["type"] == ("header" if n == 1 else "run"), n' "$tmp/cut.jsonl" || { echo "FAIL: a line is not valid JSON"; fail=1; }
fi
"$bin" run --summary-only "$tmp/cut.jsonl" >"$tmp/summary" 2>&1 || { echo "FAIL: summary of the resumed file: $(cat "$tmp/summary")"; fail=1; }
grep -q "greedy: 120 of 120 speculative runs reproduce" "$tmp/summary" || { echo "FAIL: greedy runs differ from their baselines: $(cat "$tmp/summary")"; fail=1; }

# Continuing a file with another config, or overwriting one, is refused before any run.
sed 's/"max_new_tokens": 48/"max_new_tokens": 47/' "$tmp/exp.json" >"$tmp/other.json"
"$bin" run "$tmp/other.json" --out "$tmp/cut.jsonl" --resume >/dev/null 2>"$tmp/err"
rc=$?
{ [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "config_hash" "$tmp/err"; } || { echo "FAIL: another config's resume: rc $rc: $(cat "$tmp/err")"; fail=1; }
"$bin" run "$tmp/exp.json" --out "$tmp/cut.jsonl" >/dev/null 2>"$tmp/err"
rc=$?
{ [ $rc = 2 ] && grep -q "exists; pass --resume" "$tmp/err"; } || { echo "FAIL: overwrite without --resume: rc $rc: $(cat "$tmp/err")"; fail=1; }
[ "$(lines "$tmp/cut.jsonl")" = $((total + 1)) ] || { echo "FAIL: a refused run changed the file"; fail=1; }

[ $fail = 0 ] && echo "test_run_resume: ok"
exit $fail

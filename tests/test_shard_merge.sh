#!/usr/bin/env bash
# --shard i/N and specdec merge: two shards together hold exactly the unsharded grid, each group
# (a baseline and the speculative runs compared with it) stays in one shard, the merged file is in
# grid order, and merge refuses files of another experiment.
source "$(dirname "$0")/cli_lib.sh" "$1"

cat >"$tmp/exp.json" <<'EOF'
{
  "target": "tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin",
  "drafters": ["lookup:3", "ngram1:3"],
  "gammas": [2, 4],
  "samplers": [{"temperature": 0}],
  "dataset": {"path": "tinystories_val.txt", "format": "text", "prefix_words": 6},
  "n_prompts": 9,
  "max_new_tokens": 24,
  "seeds": [1, 2],
  "device": "cpu"
}
EOF
ids() { grep -o '"run_id":"[0-9a-f]*"' "$1" | sort; }
field() { tail -n +2 "$1" | grep -o "\"$2\":[0-9]*" | cut -d: -f2; }  # a number from every run line

for part in all 0 1; do
  shard=(); [ $part = all ] || shard=(--shard "$part/2")
  "$bin" run "$tmp/exp.json" --out "$tmp/$part.jsonl" "${shard[@]}" >/dev/null 2>"$tmp/err" ||
    { echo "FAIL: run $part: $(cat "$tmp/err")"; exit 1; }
done
n_all=$(ids "$tmp/all.jsonl" | wc -l)
[ "$n_all" = 90 ] || { echo "FAIL: the grid has $n_all runs, want 90 (9 prompts x 2 seeds x 5)"; fail=1; }
both=$(comm -12 <(ids "$tmp/0.jsonl") <(ids "$tmp/1.jsonl"))
[ -z "$both" ] || { echo "FAIL: runs in both shards: $both"; fail=1; }
for s in 0 1; do
  bad=$(field "$tmp/$s.jsonl" group | awk -v s=$s '$1 % 2 != s')
  [ -z "$bad" ] || { echo "FAIL: shard $s holds groups of the other shard: $bad"; fail=1; }
  grep -q "\"shard\":{\"index\":$s,\"count\":2}" "$tmp/$s.jsonl" || { echo "FAIL: shard $s header"; fail=1; }
done

"$bin" merge --out "$tmp/merged.jsonl" "$tmp/1.jsonl" "$tmp/0.jsonl" 2>"$tmp/err" || { echo "FAIL: merge: $(cat "$tmp/err")"; fail=1; }
diff <(ids "$tmp/all.jsonl") <(ids "$tmp/merged.jsonl") >/dev/null || { echo "FAIL: merged run ids differ from the unsharded run's"; fail=1; }
[ "$(field "$tmp/merged.jsonl" index | tr '\n' ' ')" = "$(seq 0 89 | tr '\n' ' ')" ] || { echo "FAIL: merged file not in grid order"; fail=1; }
grep -q '"merged_from":\[' "$tmp/merged.jsonl" || { echo "FAIL: merged header lacks merged_from"; fail=1; }
"$bin" run --summary-only "$tmp/merged.jsonl" >"$tmp/summary" 2>&1 || { echo "FAIL: summary of the merged file"; fail=1; }
grep -q "greedy: 72 of 72 speculative runs reproduce" "$tmp/summary" || { echo "FAIL: merged summary: $(cat "$tmp/summary")"; fail=1; }
# a shard given twice: its runs are kept once
"$bin" merge --out "$tmp/twice.jsonl" "$tmp/0.jsonl" "$tmp/0.jsonl" "$tmp/1.jsonl" 2>"$tmp/err"
diff <(ids "$tmp/all.jsonl") <(ids "$tmp/twice.jsonl") >/dev/null || { echo "FAIL: a repeated shard duplicated runs"; fail=1; }

sed 's/"max_new_tokens": 24/"max_new_tokens": 16/; s/"n_prompts": 9/"n_prompts": 2/' "$tmp/exp.json" >"$tmp/other.json"
"$bin" run "$tmp/other.json" --out "$tmp/other.jsonl" --shard 1/2 >/dev/null 2>&1 || { echo "FAIL: other run"; fail=1; }
expect_fatal "merging another experiment's shard" "not shards of one experiment" \
  "$bin" merge --out "$tmp/mixed.jsonl" "$tmp/0.jsonl" "$tmp/other.jsonl"
[ ! -e "$tmp/mixed.jsonl" ] || { echo "FAIL: a refused merge wrote its output"; fail=1; }
expect_fatal "merging onto an existing file" "exists" "$bin" merge --out "$tmp/merged.jsonl" "$tmp/0.jsonl"
expect_fatal "resuming a shard file as another shard" "shard" \
  "$bin" run "$tmp/exp.json" --out "$tmp/0.jsonl" --shard 1/2 --resume
expect_fatal "a bad --shard" "0 <= I < N" "$bin" run "$tmp/exp.json" --out "$tmp/x.jsonl" --shard 2/2

[ $fail = 0 ] && echo "test_shard_merge: ok"
exit $fail

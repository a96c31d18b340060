#!/usr/bin/env bash
# specdec plot: every figure (gamma curves, per-position acceptance, EGAG histogram and entropy,
# acceptance per category) as PNG and SVG from the results file alone; plotting twice gives
# byte-identical files; a torn last line is skipped with a warning; FILE.jsonl.xz reads as FILE.jsonl.
source "$(dirname "$0")/cli_lib.sh" "$1"

cat >"$tmp/exp.json" <<'EOF'
{
  "name": "plot-test",
  "target": "tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin",
  "drafters": ["lookup:3", "ngram:3"],
  "gammas": [1, 3],
  "egag": [{"gamma_min": 1, "gamma_max": 4, "beta": 0.5}],
  "samplers": [{"temperature": 0}],
  "dataset": {"path": "mt_bench.jsonl", "format": "mt_bench", "category": ["writing", "roleplay"]},
  "max_new_tokens": 24,
  "device": "cpu"
}
EOF
"$bin" run "$tmp/exp.json" --out "$tmp/r.jsonl" >/dev/null 2>"$tmp/err" || { echo "FAIL: run: $(cat "$tmp/err")"; exit 1; }
"$bin" plot "$tmp/r.jsonl" --outdir "$tmp/a" >"$tmp/out" 2>&1 || { echo "FAIL: plot: $(cat "$tmp/out")"; exit 1; }
"$bin" plot "$tmp/r.jsonl" --outdir "$tmp/b" >/dev/null 2>&1 || { echo "FAIL: second plot"; fail=1; }
diff -r "$tmp/a" "$tmp/b" >/dev/null || { echo "FAIL: plotting twice gave different files: $(diff -rq "$tmp/a" "$tmp/b")"; fail=1; }

for fig in acceptance_vs_gamma speedup_vs_gamma per_position_acceptance egag_gamma_histogram \
           egag_acceptance_vs_entropy acceptance_by_category; do
  png="$tmp/a/${fig}_greedy.png" svg="$tmp/a/${fig}_greedy.svg"
  [ "$(head -c 8 "$png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || { echo "FAIL: $png is not a PNG"; fail=1; }
  grep -q '<svg' "$svg" 2>/dev/null || { echo "FAIL: $svg is not an SVG"; fail=1; }
  grep -q "$fig" "$tmp/out" || { echo "FAIL: plot did not list $fig"; fail=1; }
done
# titles, axis labels with units, and the series
grep -q 'draft length γ (tokens per round)' "$tmp/a/acceptance_vs_gamma_greedy.svg" || { echo "FAIL: x label"; fail=1; }
grep -q 'speedup (× autoregressive wall time)' "$tmp/a/speedup_vs_gamma_greedy.svg" || { echo "FAIL: y label"; fail=1; }
grep -q 'lookup:3 theory' "$tmp/a/speedup_vs_gamma_greedy.svg" || { echo "FAIL: theory curve"; fail=1; }
for cat in writing roleplay; do
  grep -q "\"$cat\"" "$tmp/a/acceptance_by_category_greedy.dat" || { echo "FAIL: category $cat missing"; fail=1; }
done
# the data: acceptance at gamma 1 and 3 for both drafters, each a rate in [0, 1]
awk 'NF == 3 && $1 ~ /^[0-9]+$/ { n++; if ($2 < 0 || $2 > 1) bad++ } END { exit !(n == 4 && !bad) }' \
  "$tmp/a/acceptance_vs_gamma_greedy.dat" || { echo "FAIL: acceptance data: $(cat "$tmp/a/acceptance_vs_gamma_greedy.dat")"; fail=1; }

# without --outdir the figures go to plots/<experiment name> beside the results file
"$bin" plot "$tmp/r.jsonl" >"$tmp/out" 2>&1 || { echo "FAIL: plot without --outdir: $(cat "$tmp/out")"; fail=1; }
diff -r "$tmp/a" "$tmp/plots/plot-test" >/dev/null || { echo "FAIL: default outdir: $(cat "$tmp/out")"; fail=1; }

# a torn last line (an interrupted run) is skipped with a warning, and the figures are unchanged
cp "$tmp/r.jsonl" "$tmp/torn.jsonl"
printf '{"type":"run","run_id":"00' >>"$tmp/torn.jsonl"
"$bin" plot "$tmp/torn.jsonl" --outdir "$tmp/c" >/dev/null 2>"$tmp/err" || { echo "FAIL: plot of a torn file: $(cat "$tmp/err")"; fail=1; }
grep -q "incomplete last line" "$tmp/err" || { echo "FAIL: no warning for the torn line"; fail=1; }
diff -r "$tmp/a" "$tmp/c" >/dev/null || { echo "FAIL: the torn line changed the figures"; fail=1; }

# an xz-compressed results file (how large committed results are kept) plots the same
xz -c "$tmp/r.jsonl" >"$tmp/r.jsonl.xz"
"$bin" plot "$tmp/r.jsonl.xz" --outdir "$tmp/x" >/dev/null 2>"$tmp/err" || { echo "FAIL: plot of .xz: $(cat "$tmp/err")"; fail=1; }
diff -r "$tmp/a" "$tmp/x" >/dev/null || { echo "FAIL: the .xz file gave different figures"; fail=1; }

[ $fail = 0 ] && echo "test_plot: ok"
exit $fail

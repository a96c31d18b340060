# written by specdec plot from experiments/plots/egag_acceptance_vs_entropy.gp; edit the template, not this file
set encoding utf8
dat = 'egag_acceptance_vs_entropy_greedy.dat'
n_series = 2
plot_title = 'EGAG: acceptance vs drafter entropy (pooled over runs; bins with at least 20 drafted tokens)' . "\n" . 'egag · pycode/pycode-19m · greedy · humaneval.jsonl, 12 prompts, ≤ 128 new tokens · cuda'
set terminal pngcairo size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'egag_acceptance_vs_entropy_greedy.png'
# EGAG: acceptance rate of the drafts made in rounds whose drafter entropy fell in each bin of
# H / ln V, pooled over runs.
# Set by specdec plot: dat (blocks per series: bin centre, acceptance, drafted tokens), n_series,
# plot_title.
set title plot_title
set xlabel 'normalised drafter entropy H / ln V'
set ylabel 'acceptance rate α (accepted / drafted)'
set xrange [0:1]
set yrange [0:1.05]
set key below maxrows 4
set grid
plot for [i=0:n_series-1] dat index i using 1:2 with linespoints lw 2 pt 7 ps 0.8 title columnheader(1)

set terminal svg size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'egag_acceptance_vs_entropy_greedy.svg'
replot

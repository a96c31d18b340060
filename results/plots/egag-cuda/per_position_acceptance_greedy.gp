# written by specdec plot from experiments/plots/per_position_acceptance.gp; edit the template, not this file
set encoding utf8
dat = 'per_position_acceptance_greedy.dat'
n_series = 2
plot_title = 'Acceptance by draft position, each drafter at its largest γ (pooled over runs)' . "\n" . 'egag · pycode/pycode-19m · greedy · humaneval.jsonl, 12 prompts, ≤ 128 new tokens · cuda'
set terminal pngcairo size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'per_position_acceptance_greedy.png'
# Conditional acceptance at each draft position: accepted at i / rounds that reached i, pooled
# over the runs of each drafter at its largest γ.
# Set by specdec plot: dat (blocks per drafter: position, acceptance, rounds reached), n_series,
# plot_title.
set title plot_title
set xlabel 'draft position i (1 = first drafted token)'
set ylabel 'P(accept at i | reached i)'
set yrange [0:1.05]
set key below maxrows 4
set grid
set xtics 1
set offsets 0.3, 0.3, 0, 0
plot for [i=0:n_series-1] dat index i using 1:2 with linespoints lw 2 pt 7 ps 0.8 title columnheader(1)

set terminal svg size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'per_position_acceptance_greedy.svg'
replot

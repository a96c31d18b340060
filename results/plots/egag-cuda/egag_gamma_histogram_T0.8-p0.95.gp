# written by specdec plot from experiments/plots/egag_gamma_histogram.gp; edit the template, not this file
set encoding utf8
dat = 'egag_gamma_histogram_T0.8-p0.95.dat'
n_series = 2
plot_title = 'EGAG: distribution of the chosen γ (fraction of rounds)' . "\n" . 'egag · pycode/pycode-19m · T0.8-p0.95 · humaneval.jsonl, 12 prompts, ≤ 128 new tokens · cuda'
set terminal pngcairo size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'egag_gamma_histogram_T0.8-p0.95.png'
# EGAG: how often each γ was chosen, as a fraction of rounds, per drafter and EGAG setting.
# Set by specdec plot: dat (a table: gamma, then one column per series, with a header row),
# n_series, plot_title.
set title plot_title
set xlabel 'chosen γ (tokens per round)'
set ylabel 'fraction of rounds'
set yrange [0:*]
set key below maxrows 4
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
plot for [i=2:n_series+1] dat using i:xtic(1) title columnheader(i)

set terminal svg size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'egag_gamma_histogram_T0.8-p0.95.svg'
replot

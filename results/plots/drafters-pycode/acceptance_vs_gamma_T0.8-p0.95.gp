# written by specdec plot from experiments/plots/acceptance_vs_gamma.gp; edit the template, not this file
set encoding utf8
dat = 'acceptance_vs_gamma_T0.8-p0.95.dat'
n_series = 5
plot_title = 'Acceptance rate vs draft length (mean ± 95% CI over prompts)' . "\n" . 'drafters-pycode · pycode/pycode-19m · T0.8-p0.95 · humaneval.jsonl, 164 prompts, ≤ 128 new tokens · cuda'
set terminal pngcairo size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'acceptance_vs_gamma_T0.8-p0.95.png'
# Acceptance rate against the draft length, one line per drafter.
# Set by specdec plot: dat (blocks, one per drafter: gamma, mean alpha, 95% CI half-width; the
# block's first line is its title), n_series, plot_title.
set title plot_title
set xlabel 'draft length γ (tokens per round)'
set ylabel 'acceptance rate α (accepted / drafted)'
set yrange [0:1.05]
set key below maxrows 4
set grid
set xtics 1
set offsets 0.3, 0.3, 0, 0
plot for [i=0:n_series-1] dat index i using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.8 title columnheader(1)

set terminal svg size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'acceptance_vs_gamma_T0.8-p0.95.svg'
replot

# written by specdec plot from experiments/plots/speedup_vs_gamma.gp; edit the template, not this file
set encoding utf8
dat = 'speedup_vs_gamma_T0.8-p0.95.dat'
theory = 'speedup_vs_gamma_T0.8-p0.95_theory.dat'
n_series = 5
plot_title = 'Speedup vs draft length (mean ± 95% CI over prompts)' . "\n" . 'dashed: Leviathan et al. (1 - α^(γ+1)) / ((1 - α)(γc + 1)) from the measured α and c' . "\n" . 'drafters-pycode · pycode/pycode-19m · T0.8-p0.95 · humaneval.jsonl, 164 prompts, ≤ 128 new tokens · cuda'
set terminal pngcairo size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'speedup_vs_gamma_T0.8-p0.95.png'
# Measured speedup against the draft length, with the theoretical curve of Leviathan et al. (2023),
# (1 - α^(γ+1)) / ((1 - α)(γc + 1)), from each drafter's measured α and cost ratio c.
# Set by specdec plot: dat (blocks per drafter: gamma, mean speedup, 95% CI half-width),
# theory (blocks per drafter: gamma, predicted speedup), n_series, plot_title.
set title plot_title
set xlabel 'draft length γ (tokens per round)'
set ylabel 'speedup (× autoregressive wall time)'
set key below maxrows 4
set grid
set xtics 1
set offsets 0.3, 0.3, 0, 0
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 3 lc rgb 'gray40'
plot for [i=0:n_series-1] dat index i using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.8 lc i+1 title columnheader(1), \
     for [i=0:n_series-1] theory index i using 1:2 with lines dt 2 lw 1.5 lc i+1 title columnheader(1)

set terminal svg size 1200,680 noenhanced font 'DejaVu Sans,11'
set output 'speedup_vs_gamma_T0.8-p0.95.svg'
replot

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

# Acceptance rate per dataset category, each drafter at the γ with its best mean speedup.
# Set by specdec plot: dat (a table: category, then per series a mean and a 95% CI half-width,
# with a header row), n_series, plot_title.
set title plot_title
set xlabel 'dataset category'
set ylabel 'acceptance rate α (accepted / drafted)'
set yrange [0:1.05]
set key below maxrows 4
set grid ytics
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30
plot for [i=0:n_series-1] dat using (column(2+2*i)):(column(3+2*i)):xtic(1) title columnheader(2+2*i)

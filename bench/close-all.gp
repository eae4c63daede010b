# close-all.gp: the close-all figure, from the medians report.py writes.
# usage: gnuplot -e "datafile='...'; outfile='...'" close-all.gp
#
# Columns: the limit, then for 10 open descriptors libdctx, libdaemon, the
# plain loop and python-daemon, then the same four for 1000.

set terminal pngcairo size 960,600 font ",11"
set output outfile
set title "Closing inherited descriptors: cost against RLIMIT\\_NOFILE (soft = hard)"
set xlabel "RLIMIT\\_NOFILE"
set ylabel "time of the closing step, median (µs)"
set logscale xy
set autoscale xfix
set offsets graph 0.03, graph 0.03, 0, 0
set format y "%g"
set grid xtics ytics mytics
set key outside right top
set datafile commentschars "#"

plot \
	datafile using 1:2 with linespoints lw 2 pt 7 lc rgb "#1b7837" title "libdctx, 10 open", \
	datafile using 1:6 with linespoints lw 2 pt 6 dt 2 lc rgb "#1b7837" title "libdctx, 1000 open", \
	datafile using 1:3 with linespoints lw 2 pt 5 lc rgb "#2166ac" title "libdaemon, 10 open", \
	datafile using 1:7 with linespoints lw 2 pt 4 dt 2 lc rgb "#2166ac" title "libdaemon, 1000 open", \
	datafile using 1:4 with linespoints lw 2 pt 9 lc rgb "#b2182b" title "plain close loop, 10 open", \
	datafile using 1:8 with linespoints lw 2 pt 8 dt 2 lc rgb "#b2182b" title "plain close loop, 1000 open", \
	datafile using 1:5 with linespoints lw 2 pt 11 lc rgb "#762a83" title "python-daemon, 10 open", \
	datafile using 1:9 with linespoints lw 2 pt 10 dt 2 lc rgb "#762a83" title "python-daemon, 1000 open"

# upgrade.gp: requests per window through one upgrade and one restart,
# from the data upgrade.py writes.
# usage: gnuplot -e "datafile='...'; outfile='...'; window=10;
#            upgrade_ready=X; restart_ready=Y" upgrade.gp
#
# Two blocks (index 0: the upgrade, index 1: the restart), one line per
# window: its start from the switch's request (ms), the requests answered
# in full and the failed ones in it (answered: steps; failed: boxes).  A
# ready time below 0: that mode was not measured, and is left out.

set terminal pngcairo size 960,540 font ",11"
set output outfile
set title sprintf("Requests per %d ms window through one switch of echod's process, under load", window)
set xlabel "time from the switch's request (ms); dotted: the new process is ready"
set ylabel sprintf("requests per %d ms", window)
set datafile missing "?"
set datafile commentschars "#"
set grid xtics ytics
set key outside right top
set yrange [0:*]
set xrange [-100:400]

up = "datafile index 0 using 1:2 with steps lw 2 lc rgb '#1b7837' title 'upgrade: answered', " . \
	"datafile index 0 using ($1+window/2.0):3:(window) with boxes fs transparent solid 0.35 noborder lc rgb '#1b7837' title 'upgrade: failed'"
re = "datafile index 1 using 1:2 with steps lw 2 lc rgb '#b2182b' title 'restart: answered', " . \
	"datafile index 1 using ($1+window/2.0):3:(window) with boxes fs transparent solid 0.35 noborder lc rgb '#b2182b' title 'restart: failed'"
if (upgrade_ready >= 0) {
	set arrow 1 from upgrade_ready, graph 0 to upgrade_ready, graph 1 nohead lc rgb "#1b7837" dt 3
}
if (restart_ready >= 0) {
	set arrow 2 from restart_ready, graph 0 to restart_ready, graph 1 nohead lc rgb "#b2182b" dt 3
}
if (upgrade_ready >= 0 && restart_ready >= 0) {
	eval("plot " . up . ", " . re)
} else {
	if (upgrade_ready >= 0) { eval("plot " . up) } else { eval("plot " . re) }
}

# Doxygen's man output puts every function of a header on the header's
# page (dctx.h.3) and gives each name a page that only includes it (".so",
# MAN_LINKS).  This cuts the header's page into one real page per function
# and callback type, as a C library's manual has them: NAME with the brief,
# SYNOPSIS with the include and the prototype, DESCRIPTION with the doc
# comment, SEE ALSO.  Run as
#	awk -v dir=OUTDIR -f man-split.awk dctx.h.3
# It prints the name of each page it writes.

function flush() {
	if (name == "")
		return
	if (brief == "")
		brief = name
	out = dir "/" name ".3"
	printf(".TH \"%s\" 3 %s\n", name, threst) > out
	printf(".ad l\n.nh\n.SH NAME\n%s \\- %s\n", name, brief) > out
	printf(".SH SYNOPSIS\n.nf\n\\fB#include <dctx.h>\\fP\n.sp\n%s;\n.fi\n",
	    sig) > out
	printf(".SH DESCRIPTION%s\n", body) > out
	printf(".SH SEE ALSO\n\\fBlibdctx\\fP(3), \\fBdctx.h\\fP(3)\n") > out
	close(out)
	print out
	name = ""
}

NR == 1 && /^\.TH / {
	# Keep Doxygen's date, version and manual title.
	threst = $0
	sub(/^\.TH "[^"]*" 3 /, "", threst)
	next
}

/^\.SH / {
	flush()
	section = $0
	next
}

/^\.SS / && (section ~ /Function Documentation/ || section ~ /Typedef Documentation/) {
	flush()
	sig = $0
	sub(/^\.SS "/, "", sig)
	sub(/"$/, "", sig)
	if (match(sig, /\(\* [A-Za-z_0-9]+\)/))
		name = substr(sig, RSTART + 3, RLENGTH - 4)
	else if (match(sig, /[A-Za-z_0-9]+ \(/))
		name = substr(sig, RSTART, RLENGTH - 2)
	body = ""
	brief = ""
	next
}

name != "" {
	body = body "\n" $0
	if (brief == "" && $0 !~ /^\./ && $0 != "") {
		brief = $0
		if ((i = index(brief, "\\&.")) > 0)
			brief = substr(brief, 1, i - 1)
	}
}

END {
	flush()
}

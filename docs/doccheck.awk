# Every public name in include/dctx.h has a doc comment: each function,
# macro, struct, typedef, enum and enum value.  Doxygen's
# WARN_IF_UNDOCUMENTED misses some kinds (an enum value, a struct only
# declared), so this check reads the header itself; it needs nothing but
# awk, and runs even where the man pages are not built.  Run as
#	awk -f doccheck.awk include/dctx.h
# It names each undocumented declaration and exits 1 when there is one.
#
# A name counts as documented when a doc comment ("/**") ends on the line
# before its declaration (blank and preprocessor lines between are fine),
# or when a trailing "/**<" comment is on its line.  A name declared
# twice (the two branches of an #if) needs it once.

function declare(n, kind) {
	if (n == "" || n == guard)
		return
	if (doc || $0 ~ /\/\*\*</)
		documented[n] = 1
	if (!(n in where)) {
		where[n] = FILENAME ":" FNR
		kinds[n] = kind
		order[++count] = n
	}
	doc = 0
}

# Inside a comment: a doc comment counts for what follows it.
incomment {
	if ($0 ~ /\*\//) {
		incomment = 0
		doc = isdoc
	}
	next
}
/^[ \t]*\/\*/ && $0 !~ /\/\*\*</ {
	isdoc = $0 ~ /^[ \t]*\/\*\*([^*]|$)/
	if ($0 ~ /\*\/[ \t]*$/)
		doc = isdoc
	else
		incomment = 1
	next
}
/^[ \t]*$/ {
	next
}
# The include guard is the header's own business.
/^#ifndef [A-Z_]+_H$/ && guard == "" {
	guard = $2
	next
}
/^#define / {
	n = $2
	sub(/\(.*/, "", n)
	declare(n, "macro")
	next
}
/^#/ {
	next
}
inenum {
	if ($0 ~ /^[ \t]*}/) {
		inenum = 0
		doc = 0
		next
	}
	if (match($0, /^[ \t]*[A-Za-z_][A-Za-z_0-9]*/)) {
		n = substr($0, RSTART, RLENGTH)
		gsub(/[ \t]/, "", n)
		declare(n, "enum value")
	}
	next
}
/^(typedef )?enum [A-Za-z_0-9]+ *\{/ {
	declare($2 == "enum" ? $3 : $2, "enum")
	inenum = 1
	next
}
# Ours are opaque structs; another library's (struct event_base) is only
# named for a prototype, and documented there.
/^struct [A-Za-z_0-9]+;/ {
	n = $2
	sub(/;.*/, "", n)
	if (n ~ /^dctx/)
		declare(n, "struct")
	else
		doc = 0
	next
}
/^typedef / {
	stmt = $0
	while (stmt !~ /;/ && (getline line) > 0)
		stmt = stmt " " line
	if (match(stmt, /\(\*[ \t]*[A-Za-z_0-9]+\)/)) {
		n = substr(stmt, RSTART + 2, RLENGTH - 3)
		gsub(/[ \t]/, "", n)
	} else {
		n = stmt
		sub(/[ \t]*;.*/, "", n)
		sub(/.*[^A-Za-z_0-9]/, "", n)
	}
	declare(n, "typedef")
	next
}
/^DCTX_EXPORT / {
	stmt = $0
	while (stmt !~ /[;{]/ && (getline line) > 0)
		stmt = stmt " " line
	sub(/\(.*/, "", stmt)
	n = stmt
	sub(/.*[^A-Za-z_0-9]/, "", n)
	declare(n, "function")
	next
}
# Anything else (extern "C", a closing brace) ends what a comment was for.
{
	doc = 0
}

END {
	for (i = 1; i <= count; i++) {
		n = order[i]
		if (!(n in documented)) {
			printf("%s: %s %s has no doc comment\n", where[n],
			    kinds[n], n) > "/dev/stderr"
			bad++
		}
	}
	if (count == 0) {
		print FILENAME ": no public name found" > "/dev/stderr"
		exit 1
	}
	if (bad) {
		printf("%d undocumented public name(s): see the rule in " \
		    "docs/doccheck.awk\n", bad) > "/dev/stderr"
		exit 1
	}
}

#!/bin/sh
# The README's "Using it" example is examples/minimal.c, which `make`
# compiles: the two must not differ, or the README's code could rot unseen.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
readme="$top/README.md"
example="$top/examples/minimal.c"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# The first ```c block after the "## Using it" heading.
awk '/^## Using it/ { part = 1; next }
	part && /^```c$/ { code = 1; next }
	code && /^```$/ { exit }
	code { print }' "$readme" >"$out"
if [ ! -s "$out" ]; then
	echo "README.md: no \`\`\`c block under \"## Using it\""
	exit 1
fi
if ! diff -u "$example" "$out"; then
	echo "README.md's \"Using it\" example differs from examples/minimal.c (diff above)"
	exit 1
fi
echo "README.md's example is examples/minimal.c"

#!/bin/sh
# fuzz.sh runs every fuzz target for a bounded time (FUZZTIME, default 20s each).
# A failure leaves the crashing input in the package's testdata/fuzz/<Target>/ and
# exits non-zero; commit that file with the fix so it becomes a regression test.
#
#   testsuite/scripts/fuzz.sh            # from the module root
#   FUZZTIME=2m testsuite/scripts/fuzz.sh
set -eu
cd "$(dirname "$0")/../.."
FUZZTIME=${FUZZTIME:-20s}
for target in \
	./providers/saml:FuzzComplete \
	./providers/saml:FuzzParseResponse \
	./broker/mapping:FuzzMapping; do
	pkg=${target%%:*}
	name=${target#*:}
	echo "fuzz: $name in $pkg for $FUZZTIME"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done

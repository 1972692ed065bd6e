#!/bin/sh
# fuzz.sh runs every fuzz target for a bounded number of executions (FUZZEXECS,
# default 40000 each, about 10–20 s per target on 2 cores). A failure leaves the
# crashing input in the package's testdata/fuzz/<Target>/ and exits non-zero;
# commit that file with the fix so it becomes a regression test.
#
#   testsuite/scripts/fuzz.sh            # from the module root
#   FUZZEXECS=500000 testsuite/scripts/fuzz.sh
#
# Why counts and not durations:
#   - a duration (-fuzztime 20s) races Go's fuzz coordinator: when the deadline
#     fires, a worker's cancelled call can be reported as a failure, "context
#     deadline exceeded", with no input (go.dev/issue/75804, fixed in Go 1.27);
#     a count has no deadline to race.
#   - every new-coverage input is minimized first, with a default budget of 60 s;
#     a SAML response is kilobytes long and each call verifies a signature, so a
#     20 s run spent its whole time minimizing one input (16 executions in all).
#     Minimizing is bounded here too (FUZZMINIMIZE calls); calls made while
#     minimizing count toward FUZZEXECS.
set -eu
cd "$(dirname "$0")/../.."
FUZZEXECS=${FUZZEXECS:-40000}
FUZZMINIMIZE=${FUZZMINIMIZE:-200}
# Each target is "<package directory>:<Target>"; the test runs from that directory,
# so the claims module (a module of its own) is fuzzed the same way.
for target in \
	providers/saml:FuzzComplete \
	providers/saml:FuzzParseResponse \
	broker/mapping:FuzzMapping \
	claims:FuzzClaimsDecode; do
	dir=${target%%:*}
	name=${target#*:}
	echo "fuzz: $name in ./$dir for $FUZZEXECS executions"
	(cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "${FUZZEXECS}x" -fuzzminimizetime "${FUZZMINIMIZE}x" .)
done

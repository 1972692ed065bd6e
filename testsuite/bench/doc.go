// Package bench holds benchmarks that compare JusticeConnect components with
// the libraries a resource server or client would otherwise use. It has no
// non-test code; run it with
//
//	go test -run xxx -bench . -benchmem ./testsuite/bench/
package bench

package main

import "testing"

func TestServerGCDefaultsYieldToTheEnvironment(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	pct, setPct, limit, setLimit := serverGC(env(nil))
	if !setPct || !setLimit || pct != 400 || limit != 1<<30 {
		t.Errorf("no GOGC/GOMEMLIMIT: %d %v %d %v", pct, setPct, limit, setLimit)
	}
	if _, setPct, _, setLimit := serverGC(env(map[string]string{"GOGC": "100"})); setPct || !setLimit {
		t.Errorf("GOGC set: the broker overrode it (%v) or dropped its limit (%v)", setPct, setLimit)
	}
	if _, setPct, _, setLimit := serverGC(env(map[string]string{"GOMEMLIMIT": "300MiB", "GOGC": "off"})); setPct || setLimit {
		t.Errorf("GOGC and GOMEMLIMIT set: the broker overrode them (%v %v)", setPct, setLimit)
	}
}

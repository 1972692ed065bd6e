package config

import (
	"testing"
	"time"
)

func TestAuditRetention(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Retention != 0 {
		t.Fatalf("default retention = %v; want 0 (keep every event)", c.Audit.Retention)
	}
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{{"400d", 400 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"9600h", 400 * 24 * time.Hour}, {"0s", 0}} {
		c, err := Parse([]byte(minimal + "audit: {retention: " + tc.value + "}\n"))
		if err != nil {
			t.Errorf("retention %s: %v", tc.value, err)
			continue
		}
		if got := time.Duration(c.Audit.Retention); got != tc.want {
			t.Errorf("retention %s = %v; want %v", tc.value, got, tc.want)
		}
	}
	for _, tc := range []struct{ value, msg string }{
		{"400h", "at least 30d"},
		{"29d", "at least 30d"},
		{"-1h", "at least 30d"},
		{"-5d", "not a duration"},
		{"1.5d", "not a duration"},
		{"d", "not a duration"},
		{"999999999d", "not a duration"},
		{"400", "not a duration"},
	} {
		_, err := Parse([]byte(minimal + "audit: {retention: \"" + tc.value + "\"}\n"))
		if got := problemsOf(t, err); !hasProblem(got, "audit.retention", tc.msg) {
			t.Errorf("retention %s: want audit.retention: %s; got %v", tc.value, tc.msg, err)
		}
	}
	if _, err := Parse([]byte(minimal + "audit: {retention: 400d, keep: forever}\n")); err == nil {
		t.Error("an unknown key under audit was accepted")
	}
}

func TestParseDurationDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"1d": 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

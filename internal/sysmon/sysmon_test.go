package sysmon

import (
	"slices"
	"testing"
)

func TestEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    []string
		want   []string
		change bool
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + Setting}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "B=2"}, []string{"GODEBUG=" + Setting, "B=2"}, true},
		{"other settings kept", []string{"GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1," + Setting}, true},
		{"already set: no re-exec loop", []string{"GODEBUG=gctrace=1," + Setting}, []string{"GODEBUG=gctrace=1," + Setting}, false},
		{"operator's own schedtrace wins", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, change := Env(tc.env)
			if change != tc.change || !slices.Equal(got, tc.want) {
				t.Errorf("Env(%q) = %q, %v; want %q, %v", tc.env, got, change, tc.want, tc.change)
			}
		})
	}
}

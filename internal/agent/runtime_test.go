package agent

import (
	"slices"
	"testing"
)

func TestReexecEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    []string
		want   []string
		change bool
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + sysmonAwake}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "B=2"}, []string{"GODEBUG=" + sysmonAwake, "B=2"}, true},
		{"other settings kept", []string{"GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1," + sysmonAwake}, true},
		{"already set: no re-exec loop", []string{"GODEBUG=gctrace=1," + sysmonAwake}, []string{"GODEBUG=gctrace=1," + sysmonAwake}, false},
		{"operator's own schedtrace wins", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, change := reexecEnv(tc.env)
			if change != tc.change || !slices.Equal(got, tc.want) {
				t.Errorf("reexecEnv(%q) = %q, %v; want %q, %v", tc.env, got, change, tc.want, tc.change)
			}
		})
	}
}

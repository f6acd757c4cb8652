package main

import (
	"io"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	tests := map[string]struct {
		args    []string
		check   func(t *testing.T, o options)
		wantErr bool
	}{
		"defaults": {args: nil, check: func(t *testing.T, o options) {
			if o.N != 100000 || o.Runs != 3 || o.LatDuration != 20*time.Second || o.LatWindow != time.Second || o.Out != "BENCHMARKS.md" || o.Command != "go run ./bench" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		"quick": {args: []string{"-quick"}, check: func(t *testing.T, o options) {
			if o.N != 2000 || o.Runs != 1 || o.UpDown != 1 || o.Out != "" {
				t.Errorf("quick: %+v", o)
			}
		}},
		"quick with explicit n": {args: []string{"-quick", "-n", "500"}, check: func(t *testing.T, o options) {
			if o.N != 500 || o.Command != "go run ./bench -quick -n 500" {
				t.Errorf("explicit -n lost: %+v", o)
			}
		}},
		"output flags are not part of the command": {args: []string{"-rounds", "2", "-out", "/tmp/x.md", "--json=/tmp/x.json", "-state-dir", "/tmp/s"}, check: func(t *testing.T, o options) {
			if o.Command != "go run ./bench -rounds 2" {
				t.Errorf("Command = %q", o.Command)
			}
		}},
		"only": {args: []string{"-only", "QoS 0, 1 KB"}, check: func(t *testing.T, o options) {
			if o.Only == nil || !o.Only.MatchString("QoS 0, 1 KB") || o.Only.MatchString("QoS 1, 1 KB") || o.Out != "" {
				t.Errorf("-only: %+v", o)
			}
		}},
		"bad only":     {args: []string{"-only", "("}, wantErr: true},
		"zero runs":    {args: []string{"-runs", "0"}, wantErr: true},
		"same ports":   {args: []string{"-mosquitto-port", "28883"}, wantErr: true},
		"huge latency": {args: []string{"-latency-rate", "1000000", "-latency-duration", "1h"}, wantErr: true},
		"positional":   {args: []string{"now"}, wantErr: true},
		"sequential latency": {args: []string{"-latency-window", "0"}, check: func(t *testing.T, o options) {
			if o.LatWindow != 0 {
				t.Errorf("-latency-window 0: %v", o.LatWindow)
			}
		}},
		"window below one message": {args: []string{"-latency-window", "100us"}, wantErr: true},
		"negative window":          {args: []string{"-latency-window", "-1s"}, wantErr: true},
		"unknown flag":             {args: []string{"-fast"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseOptions(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

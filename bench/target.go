package main

import (
	"context"
	"strings"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/lab"
	"github.com/dualpeer/dualpeer/bench/internal/standin"
	"github.com/dualpeer/dualpeer/internal/netlab"
)

// target is how dualpeer's side is brought up: `dualpeer up` (the real thing) or the
// stand-in (-standin: dualpeer's broker and dataflow packages in a lab the benchmark builds).
type target interface {
	describe() string
	// up builds the lab and returns what the benchmark needs to reach and mirror it.
	up(ctx context.Context) (lab.Outputs, lab.ServerFiles, error)
	// pids are A's and B's runtime processes.
	pids(o lab.Outputs) (a, b []int, err error)
	down(ctx context.Context) error
	// cleanup removes whatever is left, with its own context (after failures and interrupts).
	cleanup()
}

func (b *bench) newTarget(dir string) target {
	if b.o.Standin {
		return &standinTarget{l: &standin.Lab{Exe: b.exe, Dir: dir}}
	}
	return &dualpeerTarget{b: b, d: lab.Dualpeer{Bin: b.bin, StateDir: dir, Log: b.log, UpArgs: strings.Fields(b.o.UpArgs)}}
}

type dualpeerTarget struct {
	b *bench
	d lab.Dualpeer
}

func (t *dualpeerTarget) describe() string { return "dualpeer up in " + t.d.StateDir }

func (t *dualpeerTarget) up(ctx context.Context) (lab.Outputs, lab.ServerFiles, error) {
	if _, err := t.d.Up(ctx); err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	o, err := t.d.Outputs(ctx)
	if err != nil {
		return o, lab.ServerFiles{}, err
	}
	sf, err := t.d.ServerFiles(t.d.StateDir)
	return o, sf, err
}

func (t *dualpeerTarget) pids(o lab.Outputs) ([]int, []int, error) {
	a, err := lab.AgentPIDs(o.ANS)
	if err != nil {
		return nil, nil, err
	}
	b, err := lab.AgentPIDs(o.BNS)
	return a, b, err
}

func (t *dualpeerTarget) down(ctx context.Context) error {
	_, err := t.d.Down(ctx)
	return err
}

// cleanup runs `dualpeer down`, then removes namespaces left by deployment id.
func (t *dualpeerTarget) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, oerr := t.d.Outputs(ctx)
	if _, err := t.d.Down(ctx); err != nil {
		t.b.logf("cleanup: %v", err)
	}
	if oerr == nil {
		if id, ok := deploymentID(o.ANS); ok {
			if err := netlab.DestroyByID(ctx, id); err != nil {
				t.b.logf("cleanup: remove lab %s: %v", id, err)
			}
		}
	}
}

type standinTarget struct{ l *standin.Lab }

func (t *standinTarget) describe() string {
	return "stand-in lab (netlab + broker + dataflow) in " + t.l.Dir
}

func (t *standinTarget) up(ctx context.Context) (lab.Outputs, lab.ServerFiles, error) {
	return t.l.Up(ctx)
}

func (t *standinTarget) pids(lab.Outputs) ([]int, []int, error) { return t.l.PIDs() }

func (t *standinTarget) down(ctx context.Context) error { return t.l.Down(ctx) }

func (t *standinTarget) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = t.l.Down(ctx)
}

// deploymentID extracts <id> from "dp-<id>-a-vm".
func deploymentID(ns string) (string, bool) {
	rest, ok := strings.CutPrefix(ns, "dp-")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "-")
	return id, ok && netlab.ValidateID(id) == nil
}

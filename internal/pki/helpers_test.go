package pki

import (
	"context"
	"net/netip"
	"sync"
	"testing"
)

// testServerIP is Cluster A's VM private IP with the default address space.
var testServerIP = netip.MustParseAddr("10.1.1.4")

// Generating the Terraform profile costs about two seconds (RSA 4096), so tests that only read a
// Material share one per mode. Tests that need their own (other IP, other time) call Generate.
var fixtures = map[Mode]func() (*Material, error){
	ModeStep: sync.OnceValues(func() (*Material, error) {
		return Generate(context.Background(), Options{Mode: ModeStep, ServerIP: testServerIP})
	}),
	ModeTerraform: sync.OnceValues(func() (*Material, error) {
		return Generate(context.Background(), Options{Mode: ModeTerraform, ServerIP: testServerIP})
	}),
}

// foreignFixtures are a second, independent Material per mode (same names, other keys).
var foreignFixtures = map[Mode]func() (*Material, error){
	ModeStep: sync.OnceValues(func() (*Material, error) {
		return Generate(context.Background(), Options{Mode: ModeStep, ServerIP: testServerIP})
	}),
	ModeTerraform: sync.OnceValues(func() (*Material, error) {
		return Generate(context.Background(), Options{Mode: ModeTerraform, ServerIP: testServerIP})
	}),
}

func material(t testing.TB, mode Mode) *Material {
	t.Helper()
	m, err := fixtures[mode]()
	if err != nil {
		t.Fatalf("generate %s material: %v", mode, err)
	}
	return m
}

func foreignMaterial(t testing.TB, mode Mode) *Material {
	t.Helper()
	m, err := foreignFixtures[mode]()
	if err != nil {
		t.Fatalf("generate foreign %s material: %v", mode, err)
	}
	return m
}

// writeMaterial stores m in a fresh temporary directory and returns it.
func writeMaterial(t testing.TB, m *Material) string {
	t.Helper()
	dir := t.TempDir()
	if err := m.WriteDir(context.Background(), dir); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}
	return dir
}

var modes = []Mode{ModeStep, ModeTerraform}

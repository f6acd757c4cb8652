package pki

import (
	"context"
	"net/netip"
	"testing"
)

func benchmarkGenerate(b *testing.B, mode Mode) {
	ctx := context.Background()
	ip := netip.MustParseAddr("10.1.1.4")
	for b.Loop() {
		if _, err := Generate(ctx, Options{Mode: mode, ServerIP: ip}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateStep measures a full step-profile Material (six EC P-256 keys, six certificates).
func BenchmarkGenerateStep(b *testing.B) { benchmarkGenerate(b, ModeStep) }

// BenchmarkGenerateTerraform measures a full Terraform-profile Material; four RSA 4096 and two RSA
// 2048 keys dominate, generated in parallel.
func BenchmarkGenerateTerraform(b *testing.B) { benchmarkGenerate(b, ModeTerraform) }

package pki

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.step.sm/crypto/keyutil"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	step, tf := material(t, ModeStep), material(t, ModeTerraform)
	foreign := foreignMaterial(t, ModeStep)
	expired, err := Generate(context.Background(), Options{Mode: ModeStep, ServerIP: testServerIP, Now: time.Now().Add(-stepLeafValidity - time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	deep := deepChain(t, step)

	type tc struct {
		o VerifyOptions
		// want lists every Kind expected (exactly); empty means the chain is fine.
		want []Kind
		// says are words the first problem's message must contain.
		says []string
	}
	server := func(m *Material) VerifyOptions {
		return VerifyOptions{Root: m.Server.Root, Leaf: m.Server.Bundle(), Key: m.Server.LeafKey, ExpectIP: testServerIP, Usage: UsageServer}
	}
	client := func(m *Material) VerifyOptions {
		return VerifyOptions{Root: m.Client.Root, Leaf: m.Client.Bundle(), Key: m.Client.LeafKey, Usage: UsageClient}
	}
	with := func(o VerifyOptions, f func(*VerifyOptions)) VerifyOptions { f(&o); return o }
	tests := map[string]tc{
		"step server ok":      {o: server(step)},
		"step client ok":      {o: client(step)},
		"terraform server ok": {o: server(tf)},
		"terraform client ok": {o: client(tf)},
		"leaf alone with separate intermediate ok": {o: with(server(step), func(o *VerifyOptions) {
			o.Leaf, o.Intermediates = []*x509.Certificate{step.Server.Leaf}, []*x509.Certificate{step.Server.Intermediate}
		})},
		"wrong IP": {o: with(server(step), func(o *VerifyOptions) { o.ExpectIP = netip.MustParseAddr("10.1.1.5") }),
			want: []Kind{KindIPMissing}, says: []string{"10.1.1.5", "10.1.1.4", "--server-ip 10.1.1.5"}},
		"client leaf has no IP": {o: with(client(step), func(o *VerifyOptions) { o.ExpectIP = testServerIP }),
			want: []Kind{KindIPMissing}, says: []string{"no IP SAN"}},
		"expired leaf": {o: server(expired),
			want: []Kind{KindExpired}, says: []string{"leaf certificate", "mqtts-endpoint", "expired", "certs rotate"}},
		"not yet valid": {o: with(server(step), func(o *VerifyOptions) { o.Now = time.Now().Add(-time.Hour) }),
			want: []Kind{KindNotYetValid, KindNotYetValid, KindNotYetValid}, says: []string{"not valid before", "clock"}},
		"foreign CA (same names, other key)": {o: with(server(step), func(o *VerifyOptions) { o.Root = foreign.Server.Root }),
			want: []Kind{KindUntrusted}, says: []string{"AIO Intermediate CA 1", "different key", "root CA file generated together"}},
		"other chain's root": {o: with(server(step), func(o *VerifyOptions) { o.Root = step.Client.Root }),
			want: []Kind{KindUntrusted}, says: []string{"Client Root CA", "does not reach"}},
		"missing intermediate": {o: with(server(step), func(o *VerifyOptions) { o.Leaf = []*x509.Certificate{step.Server.Leaf} }),
			want: []Kind{KindUntrusted}, says: []string{"--intermediate"}},
		"swapped key": {o: with(server(step), func(o *VerifyOptions) { o.Key = step.Client.LeafKey }),
			want: []Kind{KindKeyMismatch}, says: []string{"private key does not match", "mqtts-endpoint"}},
		"swapped key terraform": {o: with(server(tf), func(o *VerifyOptions) { o.Key = tf.Client.LeafKey }),
			want: []Kind{KindKeyMismatch}, says: []string{"does not match"}},
		"bundle starts with the intermediate": {o: with(server(step), func(o *VerifyOptions) {
			o.Leaf = []*x509.Certificate{step.Server.Intermediate, step.Server.Leaf}
		}), want: []Kind{KindBundleOrder}, says: []string{"starts with the CA certificate", "put the leaf first"}},
		"bundle root before intermediate": {o: with(server(tf), func(o *VerifyOptions) {
			o.Leaf = []*x509.Certificate{tf.Server.Leaf, tf.Server.Root, tf.Server.Intermediate}
		}), want: []Kind{KindBundleOrder}, says: []string{"did not issue it", "leaf, intermediate, root"}},
		"terraform server leaf used as client": {o: with(server(tf), func(o *VerifyOptions) { o.Usage = UsageClient; o.ExpectIP = netip.Addr{} }),
			want: []Kind{KindUsageMissing}, says: []string{"clientAuth"}},
		"terraform client leaf used as server": {o: with(client(tf), func(o *VerifyOptions) { o.Usage = UsageServer }),
			want: []Kind{KindUsageMissing}, says: []string{"serverAuth"}},
		"path length exceeded": {o: deep, want: []Kind{KindPathLength, KindPathLength}, says: []string{"pathlen:0"}},
		"nothing given":        {o: VerifyOptions{}, want: []Kind{KindMissing, KindMissing}, says: []string{"no leaf"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ps := Verify(tc.o)
			var kinds []Kind
			for _, p := range ps {
				kinds = append(kinds, p.Kind)
			}
			if strings.Join(kindStrings(kinds), ",") != strings.Join(kindStrings(tc.want), ",") {
				t.Fatalf("problems = %v, want kinds %v", ps, tc.want)
			}
			for _, w := range tc.says {
				if !strings.Contains(ps[0].Message, w) {
					t.Errorf("message %q does not say %q", ps[0].Message, w)
				}
			}
		})
	}
}

func kindStrings(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// deepChain puts a second intermediate under the step server intermediate (pathlen 0), which is
// therefore one CA too many.
func deepChain(t *testing.T, m *Material) VerifyOptions {
	t.Helper()
	now := time.Now()
	k2, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		t.Fatal(err)
	}
	int2, err := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "Too Deep CA"}, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true},
		now, time.Hour, k2.Public(), m.Server.Intermediate, m.Server.IntermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "deep leaf"}, KeyUsage: x509.KeyUsageDigitalSignature},
		now, time.Hour, lk.Public(), int2, k2)
	if err != nil {
		t.Fatal(err)
	}
	return VerifyOptions{Root: m.Server.Root, Leaf: []*x509.Certificate{leaf, int2, m.Server.Intermediate}, Key: lk}
}

package scripts

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/aio"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixed fake PEMs: the scripts copy bytes, they never parse them. The trailing bytes make
// sure binary-unsafe handling (lost final newline, CRLF) would show.
var (
	serverChain = []byte("-----BEGIN CERTIFICATE-----\nserver-leaf\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nserver-intermediate\n-----END CERTIFICATE-----\n")
	serverKey   = []byte("-----BEGIN PRIVATE KEY-----\nserver-key\n-----END PRIVATE KEY-----\n")
	clientRoot  = []byte("-----BEGIN CERTIFICATE-----\nclient-root\n-----END CERTIFICATE-----\n")
	clientLeaf  = []byte("-----BEGIN CERTIFICATE-----\nclient-leaf\n-----END CERTIFICATE-----\n")
	clientKey   = []byte("-----BEGIN PRIVATE KEY-----\nclient-key\n-----END PRIVATE KEY-----\r\n")
	clientInter = []byte("-----BEGIN CERTIFICATE-----\nclient-intermediate\n-----END CERTIFICATE-----")
	serverRoot  = []byte("-----BEGIN CERTIFICATE-----\nserver-root\n-----END CERTIFICATE-----\n")
)

func linkParams(anon bool) aio.LinkParams {
	return aio.LinkParams{ServerIP: netip.MustParseAddr("10.1.1.4"), AnonymousListener: anon}
}

func serverInput() ServerInput {
	return ServerInput{ServerChainPEM: serverChain, ServerKeyPEM: serverKey, ClientRootCAPEM: clientRoot,
		Manifests: aio.ServerResources(linkParams(false))}
}

func clientInput() ClientInput {
	return ClientInput{ClientLeafPEM: clientLeaf, ClientKeyPEM: clientKey, ClientIntermediatePEM: clientInter,
		ServerRootCAPEM: serverRoot, Manifests: aio.ClientResources(linkParams(true))}
}

func keyVaultLink() aio.LinkParams {
	p := linkParams(false)
	p.KeyVault = &aio.KeyVaultParams{VaultName: "kv-myorga-dev-001", TenantID: "t", ClientID: "c", ConnectedClusterName: "arck-myorga-dev-001"}
	return p
}

type rendered struct {
	name string
	data []byte
}

func renderAll(t *testing.T) []rendered {
	t.Helper()
	s, err := ServerCentral(serverInput())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ClientTechnology(clientInput())
	if err != nil {
		t.Fatal(err)
	}
	skv, err := ServerCentral(ServerInput{Manifests: aio.ServerResources(keyVaultLink())})
	if err != nil {
		t.Fatal(err)
	}
	ckv, err := ClientTechnology(ClientInput{Manifests: aio.ClientResources(keyVaultLink())})
	if err != nil {
		t.Fatal(err)
	}
	return []rendered{{"server-central.sh", s}, {"client-technology.sh", c},
		{"server-central-keyvault.sh", skv}, {"client-technology-keyvault.sh", ckv}}
}

func TestGolden(t *testing.T) {
	for _, r := range renderAll(t) {
		t.Run(r.name, func(t *testing.T) {
			path := filepath.Join("testdata", r.name+".golden")
			if *update {
				if err := os.WriteFile(path, r.data, 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read %s (run go test ./internal/scripts -update to create it): %v", path, err)
			}
			if !bytes.Equal(want, r.data) {
				t.Errorf("%s differs from the rendering; check the change, then run go test ./internal/scripts -update", path)
			}
		})
	}
}

func needBash(t *testing.T) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("skipping: bash not on PATH (apt-get install -y bash)")
	}
	return bash
}

func TestBashSyntax(t *testing.T) {
	bash := needBash(t)
	for _, r := range renderAll(t) {
		t.Run(r.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), r.name)
			if err := os.WriteFile(path, r.data, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, bash, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("bash -n %s: %v\n%s", r.name, err, out)
			}
		})
	}
}

// fakeKubectl records each call in its own directory under $FAKE_KUBECTL_DIR: the arguments,
// copies of the files passed with --cert/--key/--from-file (and their modes), stdin of
// "apply -f -" and the file of "apply -f FILE". It fails the call whose first argument is
// $FAKE_KUBECTL_FAIL, to test cleanup on failure.
const fakeKubectl = `#!/bin/sh
set -eu
d=$(mktemp -d "$FAKE_KUBECTL_DIR/call.XXXXXXXX")
printf '%s\n' "$@" >"$d/args"
if [ "${FAKE_KUBECTL_FAIL:-}" = "$1" ]; then echo "fake kubectl: failing $1 on request" >&2; exit 3; fi
prev=""
for a in "$@"; do
  case "$a" in
    --cert=*|--key=*) p=${a#*=} ;;
    --from-file=*) p=${a#--from-file=}; p=${p#*=} ;;
    *) p="" ;;
  esac
  if [ -n "$p" ]; then
    cp "$p" "$d/file-$(basename "$p")"
    stat -c '%a %n' "$p" >>"$d/modes"
    stat -c '%a' "$(dirname "$p")" >"$d/dirmode"
  fi
  if [ "$prev" = "-f" ]; then
    if [ "$a" = "-" ]; then cat >"$d/stdin"; else cp "$a" "$d/applied"; fi
  fi
  prev=$a
done
case " $* " in
  *" --dry-run=client "*) printf 'kind: Fake\nargs: "%s"\n' "$*" ;;
esac
`

type call struct {
	dir  string
	args []string
}

func runWithFakeKubectl(t *testing.T, script []byte, fail string) ([]call, string, error) {
	t.Helper()
	bash := needBash(t)
	for _, tool := range []string{"base64", "mktemp", "stat", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not on PATH (coreutils)", tool)
		}
	}
	dir := t.TempDir()
	bin, rec, tmp := filepath.Join(dir, "bin"), filepath.Join(dir, "rec"), filepath.Join(dir, "tmp")
	for _, d := range []string{bin, rec, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, path)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "TMPDIR="+tmp,
		"FAKE_KUBECTL_DIR="+rec, "FAKE_KUBECTL_FAIL="+fail, "KUBECTL=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()

	// The trap must have removed the decoded files, on success and on failure.
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("temporary directory not removed: %s still holds %v", tmp, left)
	}
	entries, err := os.ReadDir(rec)
	if err != nil {
		t.Fatal(err)
	}
	var calls []call
	for _, e := range entries {
		d := filepath.Join(rec, e.Name())
		b, err := os.ReadFile(filepath.Join(d, "args"))
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call{d, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")})
	}
	return calls, stderr.String(), runErr
}

func findCall(t *testing.T, calls []call, prefix ...string) call {
	t.Helper()
	for _, c := range calls {
		if len(c.args) >= len(prefix) && strings.Join(c.args[:len(prefix)], " ") == strings.Join(prefix, " ") {
			return c
		}
	}
	t.Fatalf("no kubectl call starting with %q", prefix)
	return call{}
}

func readRec(t *testing.T, c call, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatalf("kubectl %v did not get %s: %v", c.args, name, err)
	}
	return b
}

func checkFiles(t *testing.T, c call, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		if got := readRec(t, c, "file-"+name); !bytes.Equal(got, w) {
			t.Errorf("decoded %s differs from the input:\ngot  %q\nwant %q", name, got, w)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(readRec(t, c, "modes"))), "\n") {
		if !strings.HasPrefix(line, "600 ") {
			t.Errorf("decoded file not private (umask 077 expected): %s", line)
		}
	}
	if m := strings.TrimSpace(string(readRec(t, c, "dirmode"))); m != "700" {
		t.Errorf("temporary directory mode %s, want 700", m)
	}
}

func checkApplied(t *testing.T, calls []call, m *aio.Manifests) {
	t.Helper()
	want, err := ManifestsYAML(m)
	if err != nil {
		t.Fatal(err)
	}
	c := findCall(t, calls, "apply", "-f")
	if c.args[2] == "-" {
		c = call{}
		for _, cc := range calls {
			if len(cc.args) == 3 && cc.args[0] == "apply" && cc.args[2] != "-" {
				c = cc
			}
		}
	}
	if got := readRec(t, c, "applied"); !bytes.Equal(got, want) {
		t.Errorf("applied manifests differ from the input manifests")
	}
	back, err := aio.ParseManifests(want)
	if err != nil || len(back.Secrets) != 0 {
		t.Errorf("applied manifests must parse and hold no secrets (the script creates them from files): %v", err)
	}
}

func TestServerCentralRuns(t *testing.T) {
	in := serverInput()
	script, err := ServerCentral(in)
	if err != nil {
		t.Fatal(err)
	}
	calls, stderr, err := runWithFakeKubectl(t, script, "")
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, stderr)
	}
	findCall(t, calls, "get", "namespace", "azure-iot-operations")
	sec := findCall(t, calls, "create", "secret", "tls", "broker-tls-cert")
	checkFiles(t, sec, map[string][]byte{"tls.crt": serverChain, "tls.key": serverKey})
	if !strings.Contains(strings.Join(sec.args, " "), "--namespace azure-iot-operations --dry-run=client -o yaml") {
		t.Errorf("secret not created idempotently in the namespace: %v", sec.args)
	}
	cm := findCall(t, calls, "create", "configmap", "client-ca")
	checkFiles(t, cm, map[string][]byte{"client_ca.pem": clientRoot})
	// Each dry-run is piped into "apply -f -".
	n := 0
	for _, c := range calls {
		if len(c.args) == 3 && c.args[0] == "apply" && c.args[2] == "-" {
			if !bytes.HasPrefix(readRec(t, c, "stdin"), []byte("kind: Fake")) {
				t.Errorf("apply -f - did not receive the dry-run output")
			}
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d kubectl apply -f - calls, want 2 (secret and config map)", n)
	}
	checkApplied(t, calls, in.Manifests)
	if strings.Contains(stderr, "server-key") {
		t.Errorf("the script printed key material")
	}
}

func TestClientTechnologyRuns(t *testing.T) {
	in := clientInput()
	script, err := ClientTechnology(in)
	if err != nil {
		t.Fatal(err)
	}
	calls, stderr, err := runWithFakeKubectl(t, script, "")
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, stderr)
	}
	sec := findCall(t, calls, "create", "secret", "generic", "client-secret")
	checkFiles(t, sec, map[string][]byte{"client_cert.pem": clientLeaf, "client_key.pem": clientKey, "client_intermediate_certs.pem": clientInter})
	cm := findCall(t, calls, "create", "configmap", "tls-ca-configmap")
	checkFiles(t, cm, map[string][]byte{"server_ca.pem": serverRoot})
	checkApplied(t, calls, in.Manifests)
}

func TestKeyVaultModeAppliesOnly(t *testing.T) {
	m := aio.ClientResources(keyVaultLink())
	script, err := ClientTechnology(ClientInput{Manifests: m})
	if err != nil {
		t.Fatal(err)
	}
	calls, stderr, err := runWithFakeKubectl(t, script, "")
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, stderr)
	}
	for _, c := range calls {
		if c.args[0] == "create" {
			t.Errorf("Key Vault mode must not create secrets from files: %v", c.args)
		}
	}
	checkApplied(t, calls, m)
}

func TestFailureStopsAndCleansUp(t *testing.T) {
	script, err := ServerCentral(serverInput())
	if err != nil {
		t.Fatal(err)
	}
	// The first create fails: pipefail must stop the script before anything is applied, and
	// the trap must still remove the decoded key (checked in runWithFakeKubectl).
	calls, _, err := runWithFakeKubectl(t, script, "create")
	if err == nil {
		t.Fatal("script succeeded although kubectl create failed")
	}
	for _, c := range calls {
		if len(c.args) == 3 && c.args[0] == "apply" && c.args[2] != "-" {
			t.Errorf("manifests applied after a failed step")
		}
	}
	calls, stderr, err := runWithFakeKubectl(t, script, "get")
	if err == nil || !strings.Contains(stderr, "namespace azure-iot-operations not found") {
		t.Errorf("missing namespace: err=%v stderr=%s", err, stderr)
	}
	if len(calls) != 1 {
		t.Errorf("%d kubectl calls after the namespace check failed, want 1", len(calls))
	}
}

func TestInputErrors(t *testing.T) {
	tests := map[string]struct {
		render func() ([]byte, error)
		want   string
	}{
		"partial certs": {func() ([]byte, error) {
			in := serverInput()
			in.ServerKeyPEM = nil
			return ServerCentral(in)
		}, "ServerKeyPEM missing"},
		"bad name": {func() ([]byte, error) {
			in := clientInput()
			in.ClientSecret = "Client Secret; rm -rf /"
			return ClientTechnology(in)
		}, "ClientSecret"},
		"nothing": {func() ([]byte, error) { return ClientTechnology(ClientInput{}) }, "nothing to do"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tc.render()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestInputsNeverPrinted(t *testing.T) {
	for _, s := range []string{fmtV(serverInput()), fmtV(clientInput())} {
		if strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("input printed key material: %s", s)
		}
	}
}

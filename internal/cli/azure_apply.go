package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/dualpeer/dualpeer/internal/arm"
	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/pki"
	"github.com/dualpeer/dualpeer/internal/plan"
	"github.com/dualpeer/dualpeer/internal/provider/azure"
	"github.com/dualpeer/dualpeer/internal/state"
)

// runAzureOutput prints the blueprint's outputs (`output --target azure`); no Azure call.
func runAzureOutput(ctx context.Context, app *App, cfg *blueprint.Config) error {
	return printOutputs(app.Out, azure.Outputs(cfg))
}

type azureSession struct {
	plan   *plan.Plan
	opts   azure.Options
	unlock func()
	sub    string
}

func openAzure(ctx context.Context, app *App, cfg *blueprint.Config, subFlag string) (*azureSession, error) {
	sub, err := arm.Subscription(subFlag, os.Getenv)
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(cfg)
	if err != nil {
		return nil, err
	}
	client, err := arm.New(arm.Options{})
	if err != nil {
		return nil, err
	}
	principal, err := client.Principal(ctx)
	if err != nil {
		return nil, err
	}
	store, err := state.Open(app.StateDir)
	if err != nil {
		return nil, err
	}
	unlock, err := store.Lock(ctx)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateSSHKey(store.Path("azure", "ssh", "id_rsa"))
	if err != nil {
		unlock()
		return nil, err
	}
	mode := pki.ModeStep
	if cfg.CertMode() == blueprint.CertModeTerraform {
		mode = pki.ModeTerraform
	}
	s := &azureSession{plan: p, unlock: unlock, sub: sub}
	s.opts = azure.Options{
		ARM: client, Subscription: sub, Principal: principal, State: store,
		Certificates: &azure.PKICertificates{Dir: store.Path("azure", "certs"), Mode: mode},
		Scripts: azure.SetupScripts{Namespace: cfg.AIONamespace, ServerCertSecret: cfg.EnterpriseBrokerTLSCertSecretName,
			ClientCAConfigMap: cfg.EnterpriseClientCAConfigMapName, ClientSecret: cfg.SiteClientSecretName, TrustedCAConfigMap: cfg.SiteTLSCAConfigMapName},
		SSHPublicKey: key,
		Progress:     progressPrinter(app),
	}
	return s, nil
}

// runAzureApplyWith deploys cfg to Azure (`up --target azure`). The subscription is subFlag
// (--subscription), else ARM_SUBSCRIPTION_ID, else AZURE_SUBSCRIPTION_ID.
func runAzureApplyWith(ctx context.Context, app *App, cfg *blueprint.Config, autoApprove bool, subFlag string) error {
	s, err := openAzure(ctx, app, cfg, subFlag)
	if err != nil {
		return fmt.Errorf("apply --target azure: %w", err)
	}
	defer s.unlock()
	n := countARM(s.plan)
	if !autoApprove {
		if err := confirm(app, fmt.Sprintf("dualpeer will create or update up to %d Azure resources in subscription %s (%s).", n, s.sub, cfg.Location)); err != nil {
			return err
		}
	}
	res, err := azure.Apply(ctx, s.plan, s.opts)
	if err != nil {
		return fmt.Errorf("apply --target azure: %w", err)
	}
	if !app.Quiet {
		fmt.Fprintf(app.ErrOut, "Apply complete: %d created, %d updated, %d unchanged. Server IP (certificate SAN): %s\n", res.Created, res.Updated, res.Unchanged, res.ServerIP)
	}
	return printOutputs(app.Out, res.Outputs)
}

// runAzureDestroyWith removes what runAzureApplyWith made (`down --target azure`).
func runAzureDestroyWith(ctx context.Context, app *App, cfg *blueprint.Config, autoApprove bool, subFlag string) error {
	s, err := openAzure(ctx, app, cfg, subFlag)
	if err != nil {
		return fmt.Errorf("destroy --target azure: %w", err)
	}
	defer s.unlock()
	if !autoApprove {
		if err := confirm(app, fmt.Sprintf("dualpeer will DELETE the %d Azure resources of this deployment in subscription %s (resource groups it did not create are kept).", countARM(s.plan), s.sub)); err != nil {
			return err
		}
	}
	if err := azure.Destroy(ctx, s.plan, s.opts); err != nil {
		return fmt.Errorf("destroy --target azure: %w", err)
	}
	if !app.Quiet {
		fmt.Fprintln(app.ErrOut, "Destroy complete. Key Vaults stay soft-deleted for 7 days: purge them (az keyvault purge -n <name>) to reuse their names sooner.")
	}
	return nil
}

func countARM(p *plan.Plan) int {
	n := 0
	for _, r := range p.Resources {
		if !strings.HasPrefix(r.Type, "dualpeer/") {
			n++
		}
	}
	return n
}

// confirm asks on app.ErrOut and reads the answer from app.In; only "yes" or "y" proceeds.
func confirm(app *App, what string) error {
	fmt.Fprintf(app.ErrOut, "%s\nDo you want to continue? Only 'yes' will be accepted: ", what)
	line, err := bufio.NewReader(app.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "yes", "y":
		return nil
	}
	return errors.New("cancelled: nothing was changed (pass -auto-approve to skip the question)")
}

// progressPrinter renders one line per finished resource with its elapsed time.
func progressPrinter(app *App) func(azure.Event) {
	var mu sync.Mutex
	return func(ev azure.Event) {
		if app.Quiet && ev.Err == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Note != "":
			fmt.Fprintf(app.ErrOut, "  note  %s: %s\n", ev.Address, ev.Note)
		case !ev.Done:
			if app.Verbosity > 0 {
				fmt.Fprintf(app.ErrOut, "  ...   %s (%s %s)\n", ev.Address, ev.Type, ev.Name)
			}
		case ev.Err != nil:
			fmt.Fprintf(app.ErrOut, "  FAIL  %s after %s: %v\n", ev.Address, ev.Elapsed.Round(100_000_000), ev.Err)
		default:
			fmt.Fprintf(app.ErrOut, "  %-9s %s [%s]\n", ev.Action, ev.Address, ev.Elapsed.Round(100_000_000))
		}
	}
}

func printOutputs(w io.Writer, out map[string]string) error {
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s = %q\n", k, out[k]); err != nil {
			return err
		}
	}
	return nil
}

// loadOrCreateSSHKey returns the VMs' admin public key, creating an RSA 4096 key pair (the
// blueprint's) on first use; the private key is written 0600 next to the state.
func loadOrCreateSSHKey(path string) (string, error) {
	if b, err := os.ReadFile(path + ".pub"); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return "", fmt.Errorf("generate the VM SSH key: %w", err)
	}
	pub, err := ssh.NewPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := state.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("save the VM SSH key: %w", err)
	}
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if err := state.WriteFileAtomic(path+".pub", []byte(authorized+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("save the VM SSH public key: %w", err)
	}
	return authorized, nil
}

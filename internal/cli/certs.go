package cli

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/pki"
)

// certsDefaultServerIP is Cluster A's VM private IP with the default address space: Azure gives the
// first NIC of a fresh subnet 10.1.1.0/24 the address .4.
const certsDefaultServerIP = "10.1.1.4"

func newCertsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Generate, inspect, verify, rotate and import the MQTT link's TLS certificates",
		Long: `The MQTT link between the clusters needs two chains: the server chain (root → intermediate →
leaf whose IP SAN is Cluster A's VM private IP, used by A's broker) and the client chain (root →
intermediate → client leaf, used by B's dataflow). dualpeer makes them in the step CLI's profile
(the default) or the Terraform module's profile, or imports your own (Key Vault mode).`,
		Example: `  # Make both chains for the default server IP, the way the step CLI would
  dualpeer certs generate --out ./certs

  # The Terraform module's RSA profile for another server IP
  dualpeer certs generate --mode terraform --server-ip 192.168.1.4 --out ./certs

  # Why does the client reject the server?
  dualpeer certs verify --root certs/server-root-ca.crt --leaf certs/server-leaf-ca.crt \
      --key certs/server-leaf-ca.key --expect-ip 10.1.1.4 --usage server`,
	}
	cmd.AddCommand(
		newCertsGenerateCmd(app),
		newCertsInspectCmd(app),
		newCertsVerifyCmd(app),
		newCertsRotateCmd(app),
		newCertsImportCmd(app),
	)
	return cmd
}

// certsProgress returns a progress sink on stderr, or nil when -q is set.
func certsProgress(app *App) func(string) {
	if app.Quiet {
		return nil
	}
	return func(msg string) { fmt.Fprintln(app.ErrOut, msg) }
}

func certsParseIP(name, v string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--%s %q is not an IP address: give Cluster A's VM private IP, for example %s", name, v, certsDefaultServerIP)
	}
	return ip.Unmap(), nil
}

func certsDefaultDir(app *App) string { return filepath.Join(app.StateDir, "certs") }

type certsGenerateFlags struct {
	mode, serverIP, out string
	force               bool
}

func newCertsGenerateCmd(app *App) *cobra.Command {
	var f certsGenerateFlags
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Make the server and client chains and write them to a directory",
		Example: `  dualpeer certs generate --server-ip 10.1.1.4 --out ./certs
  dualpeer certs generate --mode terraform --server-ip 10.1.1.4 --out ./certs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := pki.ParseMode(f.mode)
			if err != nil {
				return err
			}
			ip, err := certsParseIP("server-ip", f.serverIP)
			if err != nil {
				return err
			}
			out := f.out
			if out == "" {
				out = certsDefaultDir(app)
			}
			if pki.HasMaterial(out) && !f.force {
				return fmt.Errorf("%s already holds certificates: use `dualpeer certs rotate --dir %s` for new leaves under the same CAs, or --force to replace everything (peers must then trust the new roots)", out, out)
			}
			m, err := pki.Generate(cmd.Context(), pki.Options{Mode: mode, ServerIP: ip, Progress: certsProgress(app)})
			if err != nil {
				return fmt.Errorf("generate certificates: %w", err)
			}
			if err := m.WriteDir(cmd.Context(), out); err != nil {
				return fmt.Errorf("generate certificates: %w", err)
			}
			fmt.Fprintf(app.Out, "wrote %s certificates for server IP %s to %s\n", m.Mode, m.ServerIP, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.mode, "mode", string(pki.ModeStep), "certificate profile: step (EC P-256, the default) or terraform (RSA)")
	cmd.Flags().StringVar(&f.serverIP, "server-ip", certsDefaultServerIP, "Cluster A's VM private IP: the server certificate's IP SAN")
	cmd.Flags().StringVar(&f.out, "out", "", "directory to write to (default <state-dir>/certs)")
	cmd.Flags().BoolVar(&f.force, "force", false, "replace existing certificates, CAs included")
	return cmd
}

func newCertsInspectCmd(app *App) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "inspect FILE",
		Short:   "Show the certificates in a PEM file (never its keys)",
		Example: "  dualpeer certs inspect certs/server-leaf-ca.crt\n  dualpeer certs inspect certs/server-leaf-ca.crt -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q is not known: use text or json", output)
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("inspect: %w", err)
			}
			infos, err := pki.Inspect(b)
			if err != nil {
				return fmt.Errorf("inspect %s: %w", args[0], err)
			}
			if output == "json" {
				return certsWriteJSON(app.Out, infos)
			}
			return pki.WriteText(app.Out, infos, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

type certsVerifyFlags struct {
	root, intermediate, leaf, key, expectIP, usage, output string
}

func newCertsVerifyCmd(app *App) *cobra.Command {
	var f certsVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a leaf against a root and explain exactly what is wrong",
		Long: `verify checks that the leaf chains to the given root (through --intermediate or the rest of a
bundle), that every certificate is within its validity period, that the leaf has the expected IP SAN
and extended key usage, that the key belongs to the leaf and that a bundle is in order. It exits 1
and lists every problem found.`,
		Example: `  dualpeer certs verify --root certs/server-root-ca.crt --leaf certs/server-leaf-ca.crt \
      --key certs/server-leaf-ca.key --expect-ip 10.1.1.4 --usage server
  dualpeer certs verify --root certs/client-root-ca.crt --intermediate certs/client-intermediate-ca.crt \
      --leaf certs/client-leaf-ca.crt --usage client`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options()
			if err != nil {
				return err
			}
			ps := pki.Verify(o)
			if f.output == "json" {
				if err := certsWriteJSON(app.Out, struct {
					OK       bool          `json:"ok"`
					Problems []pki.Problem `json:"problems"`
				}{len(ps) == 0, append([]pki.Problem{}, ps...)}); err != nil {
					return err
				}
			} else if len(ps) == 0 {
				fmt.Fprintf(app.Out, "OK: %q chains to %q", o.Leaf[0].Subject.CommonName, o.Root.Subject.CommonName)
				if o.ExpectIP.IsValid() {
					fmt.Fprintf(app.Out, ", has IP SAN %s", o.ExpectIP)
				}
				if o.Usage != pki.UsageAny {
					fmt.Fprintf(app.Out, ", allows %s use", o.Usage)
				}
				if o.Key != nil {
					fmt.Fprint(app.Out, ", matches its key")
				}
				fmt.Fprintln(app.Out)
			} else {
				for _, p := range ps {
					fmt.Fprintf(app.Out, "FAIL [%s] %s\n", p.Kind, p.Message)
				}
			}
			if len(ps) > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%s: %d problem(s) found", f.leaf, len(ps))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.root, "root", "", "root CA certificate the peer trusts (required)")
	cmd.Flags().StringVar(&f.intermediate, "intermediate", "", "intermediate CA certificate(s), if the leaf file is not a bundle")
	cmd.Flags().StringVar(&f.leaf, "leaf", "", "leaf certificate or bundle (leaf first) (required)")
	cmd.Flags().StringVar(&f.key, "key", "", "the leaf's private key, to check it matches")
	cmd.Flags().StringVar(&f.expectIP, "expect-ip", "", "IP the leaf must carry as a SAN (Cluster A's VM private IP for the server)")
	cmd.Flags().StringVar(&f.usage, "usage", "", "required use: server or client")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("root")
	_ = cmd.MarkFlagRequired("leaf")
	return cmd
}

func (f *certsVerifyFlags) options() (pki.VerifyOptions, error) {
	var o pki.VerifyOptions
	if f.output != "text" && f.output != "json" {
		return o, fmt.Errorf("-o %q is not known: use text or json", f.output)
	}
	var err error
	if o.Usage, err = pki.ParseUsage(f.usage); err != nil {
		return o, fmt.Errorf("--usage: %w", err)
	}
	certs := func(flag, path string) ([]*x509.Certificate, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		cs, err := pki.ParseCerts(b)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, path, err)
		}
		return cs, nil
	}
	roots, err := certs("root", f.root)
	if err != nil {
		return o, err
	}
	o.Root = roots[0]
	if o.Leaf, err = certs("leaf", f.leaf); err != nil {
		return o, err
	}
	if f.intermediate != "" {
		if o.Intermediates, err = certs("intermediate", f.intermediate); err != nil {
			return o, err
		}
	}
	if f.key != "" {
		b, err := os.ReadFile(f.key)
		if err != nil {
			return o, fmt.Errorf("--key: %w", err)
		}
		var k crypto.Signer
		if k, err = pki.ParseKey(b); err != nil {
			return o, fmt.Errorf("--key %s: %w", f.key, err)
		}
		o.Key = k
	}
	if f.expectIP != "" {
		if o.ExpectIP, err = certsParseIP("expect-ip", f.expectIP); err != nil {
			return o, err
		}
	}
	return o, nil
}

func newCertsRotateCmd(app *App) *cobra.Command {
	var dir, serverIP string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Issue new leaves (and leaf keys) under the same CAs and print what changed",
		Long: `rotate keeps the root and intermediate CAs, so peers that trust the roots need no change, and
replaces the server and client leaves and their keys.`,
		Example: "  dualpeer certs rotate --dir ./certs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = certsDefaultDir(app)
			}
			m, err := pki.LoadDir(cmd.Context(), dir)
			if err != nil {
				return fmt.Errorf("rotate: %w (generate certificates first with `dualpeer certs generate --out %s`)", err, dir)
			}
			o := pki.Options{Progress: certsProgress(app)}
			if serverIP != "" {
				if o.ServerIP, err = certsParseIP("server-ip", serverIP); err != nil {
					return err
				}
			}
			nm, changes, err := pki.Rotate(cmd.Context(), m, o)
			if err != nil {
				return err
			}
			if err := nm.WriteDir(cmd.Context(), dir); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
			for _, c := range changes {
				fmt.Fprintf(app.Out, "%s %s\n  serial     %s -> %s\n  not after  %s -> %s\n", c.Cert, c.Subject,
					c.OldSerial, c.NewSerial, c.OldNotAfter.Format(time.RFC3339), c.NewNotAfter.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "certificate directory (default <state-dir>/certs)")
	cmd.Flags().StringVar(&serverIP, "server-ip", "", "new server IP SAN (default: the one the certificates were made for)")
	return cmd
}

func newCertsImportCmd(app *App) *cobra.Command {
	var out, serverIP string
	var force bool
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Validate your own server and client chains and store them like generate does (Key Vault mode)",
		Long: `import reads your chains from DIR, named as generate writes them (server-root-ca.crt,
server-intermediate-ca.crt, server-leaf-ca.crt, server-leaf-ca.key and the client-* files) or as
their Key Vault secrets (server-root-ca-crt, …). CA keys are optional. Every chain is verified first;
nothing is written if a problem is found.`,
		Example: "  dualpeer certs import ./my-certs --server-ip 10.1.1.4 --out .dualpeer/certs",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var o pki.ImportOptions
			if serverIP != "" {
				var err error
				if o.ServerIP, err = certsParseIP("server-ip", serverIP); err != nil {
					return err
				}
			}
			if out == "" {
				out = certsDefaultDir(app)
			}
			if pki.HasMaterial(out) && !force {
				return fmt.Errorf("%s already holds certificates: pass --force to replace them", out)
			}
			m, err := pki.Import(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if err := m.WriteDir(cmd.Context(), out); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			fmt.Fprintf(app.Out, "imported the server chain (%q) and client chain (%q) into %s\n", m.Server.Leaf.Subject.CommonName, m.Client.Leaf.Subject.CommonName, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to store them in (default <state-dir>/certs)")
	cmd.Flags().StringVar(&serverIP, "server-ip", "", "IP the server leaf must carry (Cluster A's VM private IP)")
	cmd.Flags().BoolVar(&force, "force", false, "replace certificates already in --out")
	return cmd
}

func certsWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

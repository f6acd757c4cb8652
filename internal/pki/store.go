package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// File names inside a certificate directory (WriteDir, LoadDir, Import). They are certs.sh's names
// (without the early "l4-" prefix); the "-leaf-ca.crt" files are bundles, like the Key Vault secrets.
const (
	FileServerRootCert         = "server-root-ca.crt"
	FileServerRootKey          = "server-root-ca.key"
	FileServerIntermediateCert = "server-intermediate-ca.crt"
	FileServerIntermediateKey  = "server-intermediate-ca.key"
	FileServerLeafCert         = "server-leaf-ca.crt"
	FileServerLeafKey          = "server-leaf-ca.key"
	FileClientRootCert         = "client-root-ca.crt"
	FileClientRootKey          = "client-root-ca.key"
	FileClientIntermediateCert = "client-intermediate-ca.crt"
	FileClientIntermediateKey  = "client-intermediate-ca.key"
	FileClientLeafCert         = "client-leaf-ca.crt"
	FileClientLeafKey          = "client-leaf-ca.key"
	// FileInfo records the mode and server IP (no secrets) so rotate knows the profile.
	FileInfo = "certs.json"
)

// File modes: private keys are readable by the owner only.
const (
	keyFileMode  fs.FileMode = 0o600
	certFileMode fs.FileMode = 0o644
)

// chainFiles are one chain's six file names.
type chainFiles struct{ rootCert, rootKey, intCert, intKey, leafCert, leafKey string }

var (
	serverFiles = chainFiles{FileServerRootCert, FileServerRootKey, FileServerIntermediateCert, FileServerIntermediateKey, FileServerLeafCert, FileServerLeafKey}
	clientFiles = chainFiles{FileClientRootCert, FileClientRootKey, FileClientIntermediateCert, FileClientIntermediateKey, FileClientLeafCert, FileClientLeafKey}
)

// info is the non-secret description stored next to the material.
type info struct {
	Mode                 Mode     `json:"mode"`
	ServerIP             string   `json:"serverIP,omitempty"`
	RevokedClientSerials []string `json:"revokedClientSerials,omitempty"`
}

// HasMaterial reports whether dir already holds certificates (so a caller can refuse to overwrite).
func HasMaterial(dir string) bool {
	for _, f := range []string{FileServerLeafCert, FileClientLeafCert, FileServerRootCert, FileClientRootCert} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// WriteDir stores the material in dir (created 0700 if missing): keys 0600, certificates 0644, each
// file written atomically so a reader never sees a half-written key. Keys are written before the
// certificates that name them. CA keys that are not known (imported chains) are not written.
func (m *Material) WriteDir(ctx context.Context, dir string) error {
	if err := m.complete(); err != nil {
		return fmt.Errorf("refusing to write incomplete certificates to %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create certificate directory %s: %w", dir, err)
	}
	type file struct {
		name string
		data []byte
		mode fs.FileMode
	}
	var files []file
	for _, c := range []struct {
		ch *Chain
		f  chainFiles
	}{{&m.Server, serverFiles}, {&m.Client, clientFiles}} {
		for _, k := range []struct {
			name string
			key  crypto.Signer
		}{{c.f.rootKey, c.ch.RootKey}, {c.f.intKey, c.ch.IntermediateKey}, {c.f.leafKey, c.ch.LeafKey}} {
			if k.key == nil {
				continue
			}
			b, err := EncodeKey(k.key)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			files = append(files, file{k.name, b, keyFileMode})
		}
		files = append(files,
			file{c.f.rootCert, EncodeCerts(c.ch.Root), certFileMode},
			file{c.f.intCert, EncodeCerts(c.ch.Intermediate), certFileMode},
			file{c.f.leafCert, c.ch.BundlePEM(), certFileMode},
		)
	}
	in := info{Mode: m.Mode, RevokedClientSerials: m.RevokedClientSerials}
	if m.ServerIP.IsValid() {
		in.ServerIP = m.ServerIP.String()
	}
	ib, _ := json.MarshalIndent(in, "", "  ")
	files = append(files, file{FileInfo, append(ib, '\n'), certFileMode})
	for _, f := range files {
		if err := WriteFileAtomic(ctx, filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same directory that gets
// the final mode before any byte is written, is synced, and is then renamed over path.
func WriteFileAtomic(ctx context.Context, path string, data []byte, mode fs.FileMode) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; set the final mode explicitly (umask does not apply to Chmod).
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // make the rename durable; not fatal where directories cannot be synced
		_ = d.Close()
	}
	return nil
}

// LoadDir reads material written by WriteDir (or Import). CA keys are optional.
func LoadDir(ctx context.Context, dir string) (*Material, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := &Material{Mode: ModeKeyVault}
	if b, err := os.ReadFile(filepath.Join(dir, FileInfo)); err == nil {
		var in info
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, fmt.Errorf("read %s: %w (delete it and run `dualpeer certs import %s` to rebuild it)", filepath.Join(dir, FileInfo), err, dir)
		}
		m.Mode = in.Mode
		m.RevokedClientSerials = in.RevokedClientSerials
		if in.ServerIP != "" {
			ip, err := netip.ParseAddr(in.ServerIP)
			if err != nil {
				return nil, fmt.Errorf("read %s: serverIP %q: %w", filepath.Join(dir, FileInfo), in.ServerIP, err)
			}
			m.ServerIP = ip
		}
	}
	for _, c := range []struct {
		ch *Chain
		f  chainFiles
	}{{&m.Server, serverFiles}, {&m.Client, clientFiles}} {
		if err := loadChain(dir, c.f, c.ch); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func loadChain(dir string, f chainFiles, ch *Chain) error {
	var err error
	if ch.Root, err = readOneCert(filepath.Join(dir, f.rootCert)); err != nil {
		return err
	}
	if ch.Intermediate, err = readOneCert(filepath.Join(dir, f.intCert)); err != nil {
		return err
	}
	leafPath := filepath.Join(dir, f.leafCert)
	b, err := os.ReadFile(leafPath)
	if err != nil {
		return fmt.Errorf("read leaf certificate: %w", err)
	}
	bundle, err := ParseCerts(b)
	if err != nil {
		return fmt.Errorf("read %s: %w", leafPath, err)
	}
	ch.Leaf = bundle[0]
	ch.BundleWithRoot = len(bundle) >= 3 && bytes.Equal(bundle[len(bundle)-1].Raw, ch.Root.Raw)
	if ch.LeafKey, err = readKey(filepath.Join(dir, f.leafKey)); err != nil {
		return err
	}
	if ch.RootKey, err = readOptionalKey(filepath.Join(dir, f.rootKey)); err != nil {
		return err
	}
	if ch.IntermediateKey, err = readOptionalKey(filepath.Join(dir, f.intKey)); err != nil {
		return err
	}
	return nil
}

func readOneCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	cs, err := ParseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return cs[0], nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return k, nil
}

func readOptionalKey(path string) (crypto.Signer, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return readKey(path)
}

// ParseCerts decodes every "CERTIFICATE" PEM block in b, in order. Other blocks (keys) are skipped
// without being looked at. It fails if there is no certificate or one does not parse.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i := 1; ; {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate #%d does not parse: %w", i, err)
		}
		out = append(out, c)
		i++
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
	}
	return out, nil
}

// ParseKey decodes the first private key PEM block in b: PKCS#8 "PRIVATE KEY", or the older
// "EC PRIVATE KEY" (SEC 1) and "RSA PRIVATE KEY" (PKCS#1) that openssl and other tools write.
// Errors never include key bytes.
func ParseKey(b []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM private key found (expected -----BEGIN PRIVATE KEY-----)")
		}
		var (
			k   any
			err error
		)
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted: decrypt it first (openssl pkey -in KEY -out KEY.plain)")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s block does not parse: %w", blk.Type, err)
		}
		switch s := k.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return s.(crypto.Signer), nil
		default:
			return nil, fmt.Errorf("unsupported private key type %T: use an EC or RSA key", k)
		}
	}
}

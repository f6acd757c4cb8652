package azure

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/dualpeer/dualpeer/internal/pki"
)

// PKICertificates keeps the link's certificates in Dir (pki.WriteDir: keys 0600) and
// reissues the leaves when Azure assigned the server a different address than the one they
// were made for; the CAs stay, so anything that trusts them keeps working.
type PKICertificates struct {
	Dir  string
	Mode pki.Mode // ModeStep or ModeTerraform

	mu sync.Mutex
}

var _ Certificates = (*PKICertificates)(nil)

// Secrets implements Certificates.
func (c *PKICertificates) Secrets(ctx context.Context, serverIP netip.Addr) (map[string][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m *pki.Material
	var err error
	if pki.HasMaterial(c.Dir) {
		if m, err = pki.LoadDir(ctx, c.Dir); err != nil {
			return nil, fmt.Errorf("load the certificates in %s: %w", c.Dir, err)
		}
		if m.ServerIP.IsValid() && m.ServerIP != serverIP {
			if m, _, err = pki.Rotate(ctx, m, pki.Options{Mode: c.Mode, ServerIP: serverIP}); err != nil {
				return nil, fmt.Errorf("reissue the server certificate for %s: %w", serverIP, err)
			}
			if err := m.WriteDir(ctx, c.Dir); err != nil {
				return nil, err
			}
		}
		return m.Secrets(), nil
	}
	if m, err = pki.Generate(ctx, pki.Options{Mode: c.Mode, ServerIP: serverIP}); err != nil {
		return nil, fmt.Errorf("generate the certificates: %w", err)
	}
	if err := m.WriteDir(ctx, c.Dir); err != nil {
		return nil, err
	}
	return m.Secrets(), nil
}

package pki

import (
	"context"
	"crypto/rsa"
	"fmt"
	"time"
)

// Change describes one certificate replaced by Rotate.
type Change struct {
	Cert        string    `json:"cert"` // "server leaf" or "client leaf"
	Subject     string    `json:"subject"`
	OldSerial   string    `json:"oldSerial"`
	NewSerial   string    `json:"newSerial"`
	OldNotAfter time.Time `json:"oldNotAfter"`
	NewNotAfter time.Time `json:"newNotAfter"`
}

// Rotate issues new leaves (with new keys) under the same CAs; roots and intermediates are kept,
// so peers that trust the roots need no change. The profile is o.Mode, else m.Mode; for imported
// material it follows the leaf key type (RSA: terraform, otherwise step). The server IP is
// o.ServerIP, else the one the material was made for.
func Rotate(ctx context.Context, m *Material, o Options) (*Material, []Change, error) {
	if err := m.complete(); err != nil {
		return nil, nil, fmt.Errorf("rotate: %w", err)
	}
	mode := o.Mode
	if mode == "" {
		mode = m.Mode
	}
	if mode == ModeKeyVault || mode == "" {
		mode = ModeStep
		if _, ok := m.Server.LeafKey.(*rsa.PrivateKey); ok {
			mode = ModeTerraform
		}
	}
	p, err := profileFor(mode)
	if err != nil {
		return nil, nil, err
	}
	if !o.ServerIP.IsValid() {
		o.ServerIP = m.ServerIP
	}
	if !o.ServerIP.IsValid() {
		return nil, nil, fmt.Errorf("rotate: the server IP is not known: pass it (--server-ip, Cluster A's VM private IP)")
	}
	o.ServerIP = o.ServerIP.Unmap()
	for _, c := range []struct {
		name string
		ch   *Chain
	}{{"server", &m.Server}, {"client", &m.Client}} {
		if c.ch.IntermediateKey == nil {
			return nil, nil, fmt.Errorf("rotate: the %s intermediate CA key is not available (imported chains keep their CA keys with their owner): issue new leaves with your own CA and run `dualpeer certs import` again", c.name)
		}
	}
	now := o.now()
	out := &Material{Mode: mode, ServerIP: o.ServerIP, Server: m.Server, Client: m.Client,
		RevokedClientSerials: append(append([]string(nil), m.RevokedClientSerials...), Describe(m.Client.Leaf).Serial)}
	var changes []Change
	for _, c := range []struct {
		name string
		old  *Chain
		dst  *Chain
		role leafRole
	}{{"server leaf", &m.Server, &out.Server, roleServer}, {"client leaf", &m.Client, &out.Client, roleClient}} {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		key, err := p.leafKey()
		if err != nil {
			return nil, nil, fmt.Errorf("rotate: generate %s key: %w", c.name, err)
		}
		if err := p.issueLeaf(c.dst, now, c.role, o, key); err != nil {
			return nil, nil, fmt.Errorf("rotate: %w", err)
		}
		o.progress("issued new %s %q", c.name, c.dst.Leaf.Subject.CommonName)
		changes = append(changes, Change{
			Cert: c.name, Subject: c.dst.Leaf.Subject.String(),
			OldSerial: Describe(c.old.Leaf).Serial, NewSerial: Describe(c.dst.Leaf).Serial,
			OldNotAfter: c.old.Leaf.NotAfter.UTC(), NewNotAfter: c.dst.Leaf.NotAfter.UTC(),
		})
	}
	return out, changes, nil
}

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Client talks to an agent over its unix socket.
type Client struct {
	Socket string
}

func (c Client) get(ctx context.Context, path string) (*http.Response, error) {
	hc := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Socket)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent at %s does not answer: %w", c.Socket, err)
	}
	return resp, nil
}

// Ready returns nil when the agent has applied its configuration.
func (c Client) Ready(ctx context.Context) error {
	resp, err := c.get(ctx, "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent not ready: %s", strings.TrimSpace(string(b)))
	}
	return nil
}

// Status returns the agent's status.
func (c Client) Status(ctx context.Context) (*Status, error) {
	resp, err := c.get(ctx, "/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("agent status from %s: %w", c.Socket, err)
	}
	return &st, nil
}

// Metrics returns the Prometheus text exposition.
func (c Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.get(ctx, "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

package dashboard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium (or another Chromium/Chrome) for the browser test.
func chromiumPath() (string, error) {
	if p := os.Getenv("DUALPEER_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium found (apt-get install -y chromium, or set DUALPEER_CHROMIUM)")
}

// TestDashboardInChromium loads the page in headless Chromium, waits until live values change
// between snapshots, takes a screenshot and checks the elements a person needs are there.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	path, err := chromiumPath()
	if err != nil {
		t.Skipf("skipping the dashboard browser test: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{}
	srv := &http.Server{Handler: New(src, Options{MinInterval: 200 * time.Millisecond}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String() + "/"

	// Chromium's helper processes may still write to the profile for a moment after the browser
	// exits, which would make t.TempDir's cleanup fail; remove it ourselves, retrying briefly.
	profile, err := os.MkdirTemp("", "dp-dashboard-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50; i++ {
			if err = os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the Chromium profile %s: %v", profile, err)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1500),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	const rateSel = `[data-testid="dataflow-b-site-to-enterprise-cert-auth-rate"]`
	const inSel = `[data-testid="dataflow-b-site-to-enterprise-cert-auth-in"]`
	var first string
	if err := chromedp.Run(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`[data-testid="topology-svg"]`, chromedp.ByQuery),
		chromedp.WaitVisible(inSel, chromedp.ByQuery),
		chromedp.Text(inSel, &first, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("load %s in chromium: %v", url, err)
	}

	// Live: the message counter must change and a non-zero rate appear, within a bounded time.
	var now, rate string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := chromedp.Run(bctx, chromedp.Text(inSel, &now, chromedp.ByQuery), chromedp.Text(rateSel, &rate, chromedp.ByQuery)); err != nil {
			t.Fatalf("read live values: %v", err)
		}
		if now != first && rate != "" && rate != "0.0/s" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not update within 20s: messages in %q → %q, rate %q (source called %d times)", first, now, rate, src.calls.Load())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("live update seen: messages in %s → %s, rate %s", first, now, rate)

	var png []byte
	if err := chromedp.Run(bctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dir := os.Getenv("DUALPEER_SCREENSHOT_DIR"); dir != "" { // keep it for a person to look at
		_ = os.WriteFile(filepath.Join(dir, "dashboard.png"), png, 0o644)
	}
	if len(png) < 10_000 {
		t.Errorf("screenshot is only %d bytes: the page probably rendered blank", len(png))
	}

	required := map[string]string{
		"topology picture":     `[data-testid="topology"] svg[data-testid="topology-svg"]`,
		"agent A health":       `[data-testid="agent-a-health"]`,
		"agent B health":       `[data-testid="agent-b-health"]`,
		"dataflow rate":        rateSel,
		"queue depth":          `[data-testid="queue-b-dataflow-in-flight-depth"]`,
		"certificate expiry":   `[data-testid="cert-a-server-leaf-expiry"]`,
		"peering state A to B": `[data-testid="peering-peer-cluster-a-to-cluster-b-state"]`,
		"peering state B to A": `[data-testid="peering-peer-cluster-b-to-cluster-a-state"]`,
		"last update time":     `[data-testid="updated"]`,
	}
	for what, sel := range required {
		var text string
		var ok bool
		js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return e ? (e.textContent || e.tagName) : ""; })()`
		if err := chromedp.Run(bctx, chromedp.Evaluate(js, &text)); err != nil {
			t.Fatalf("query %s: %v", what, err)
		}
		ok = strings.TrimSpace(text) != ""
		if !ok {
			t.Errorf("the page has no %s (%s)", what, sel)
			continue
		}
		t.Logf("%s: %q", what, truncate(text, 60))
	}
	// textContent, not innerText: the page re-renders every second, and innerText of a node
	// being replaced reads "" on a loaded machine.
	text := func(sel string) string {
		var v string
		js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return e ? e.textContent.trim() : ""; })()`
		if err := chromedp.Run(bctx, chromedp.Evaluate(js, &v)); err != nil {
			t.Fatal(err)
		}
		return v
	}
	expiry := text(`[data-testid="cert-a-server-leaf-expiry"]`)
	health := text(`[data-testid="agent-a-health"]`)
	peer := text(`[data-testid="peering-peer-cluster-a-to-cluster-b-state"]`)
	if expiry != "2027-03-04" || health != "healthy" || peer != "Connected" {
		t.Errorf("expiry %q, agent A health %q, peering %q; want 2027-03-04, healthy, Connected", expiry, health, peer)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

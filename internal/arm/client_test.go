package arm_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/dualpeer/dualpeer/internal/arm"
	"github.com/dualpeer/dualpeer/internal/armfake"
)

const (
	sub  = "/subscriptions/11111111-2222-3333-4444-555555555555"
	rg   = sub + "/resourceGroups/rg-test"
	vnet = rg + "/providers/Microsoft.Network/virtualNetworks/vnet-test"
	apiN = "2024-05-01"
)

func newClient(t *testing.T, fake *armfake.Server) *arm.Client {
	t.Helper()
	c, err := arm.New(arm.Options{
		Credential:            armfake.Credential{},
		Endpoint:              fake.URL,
		InsecureAllowHTTP:     true,
		Retry:                 policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 3 * time.Second},
		PollInterval:          time.Millisecond,
		DisableRPRegistration: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func vnetBody() map[string]any {
	return map[string]any{"location": "East US 2", "properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []any{"10.1.0.0/16"}}}}
}

func TestPutGetDelete(t *testing.T) {
	fake := armfake.New(armfake.Options{Polls: 3})
	defer fake.Close()
	c := newClient(t, fake)
	ctx := context.Background()

	if _, err := c.Get(ctx, vnet, apiN); !arm.IsNotFound(err) {
		t.Fatalf("GET of a missing resource: want NotFound, got %v", err)
	}
	var re *azcore.ResponseError
	_, err := c.Put(ctx, vnet, apiN, vnetBody())
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "ResourceGroupNotFound" {
		t.Fatalf("PUT into a missing resource group: want 404 ResourceGroupNotFound, got %v", err)
	}
	if _, err := c.Put(ctx, rg, "2024-03-01", map[string]any{"location": "eastus2"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Put(ctx, vnet, apiN, vnetBody())
	if err != nil {
		t.Fatal(err)
	}
	if ps := got["properties"].(map[string]any)["provisioningState"]; ps != "Succeeded" {
		t.Errorf("after the LRO the resource should be Succeeded, is %v", ps)
	}
	if got["location"] != "eastus2" || got["id"] != vnet {
		t.Errorf("read-only fields not reported: %v", got)
	}
	polls := 0
	for _, r := range fake.Requests() {
		if r.Operation {
			polls++
		}
	}
	if polls != 3 {
		t.Errorf("the operation needed 3 polls, the client made %d", polls)
	}
	// A child of a missing parent is refused as ARM refuses it.
	_, err = c.Put(ctx, vnet+"/subnets/s/nope/x", apiN, map[string]any{})
	if err == nil {
		t.Fatal("PUT below a missing parent succeeded")
	}
	if err := c.Delete(ctx, vnet, apiN); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, vnet, apiN); !arm.IsNotFound(err) {
		t.Fatalf("after DELETE: want NotFound, got %v", err)
	}
	if err := c.Delete(ctx, vnet, apiN); err != nil {
		t.Fatalf("DELETE of an absent resource must succeed: %v", err)
	}
	// Resource groups delete through 202 + Location polling.
	if err := c.Delete(ctx, rg, "2024-03-01"); err != nil {
		t.Fatal(err)
	}
	if len(fake.IDs()) != 0 {
		t.Errorf("resources left after deleting the group: %v", fake.IDs())
	}
}

func TestLocationPolledPut(t *testing.T) {
	fake := armfake.New(armfake.Options{Polls: 2})
	defer fake.Close()
	c := newClient(t, fake)
	ctx := context.Background()
	fake.Seed(rg, map[string]any{"location": "eastus2"})
	st := rg + "/providers/Microsoft.Storage/storageAccounts/stx"
	got, err := c.Put(ctx, st, "2023-05-01", map[string]any{"location": "eastus2", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}})
	if err != nil {
		t.Fatal(err)
	}
	if got["kind"] != "StorageV2" {
		t.Errorf("final GET after Location polling did not return the resource: %v", got)
	}
}

func TestErrors(t *testing.T) {
	tests := map[string]struct {
		fault    armfake.Fault
		failOp   bool
		check    func(error) bool
		contains string
	}{
		"conflict": {
			fault:    armfake.Fault{Method: "PUT", Suffix: "vnet-test", Status: 409, Code: "Conflict", Message: "operation conflicts"},
			check:    arm.IsConflict,
			contains: "Conflict: operation conflicts",
		},
		"failed operation": {
			failOp: true,
			check: func(err error) bool {
				var oe *arm.OperationError
				return errors.As(err, &oe) && oe.Code == "QuotaExceeded"
			},
			contains: "QuotaExceeded: Operation could not be completed as it results in exceeding approved quota",
		},
		"server error retried out": {
			fault:    armfake.Fault{Method: "PUT", Suffix: "vnet-test", Status: 503, Code: "ServiceUnavailable", Message: "try later", Times: 10},
			check:    func(err error) bool { return arm.StatusCode(err) == 503 },
			contains: "ServiceUnavailable",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fake := armfake.New(armfake.Options{})
			defer fake.Close()
			fake.Seed(rg, map[string]any{"location": "eastus2"})
			if tt.fault.Status != 0 {
				fake.Inject(tt.fault)
			}
			if tt.failOp {
				fake.FailOperation("vnet-test", "QuotaExceeded", "Operation could not be completed as it results in exceeding approved quota")
			}
			_, err := newClient(t, fake).Put(context.Background(), vnet, apiN, vnetBody())
			if err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("got %v (%T), want an error containing %q", err, err, tt.contains)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	fake := armfake.New(armfake.Options{})
	defer fake.Close()
	fake.Seed(rg, map[string]any{"location": "eastus2"})
	fake.Inject(armfake.Fault{Method: "PUT", Suffix: "vnet-test", Status: 429, Code: "TooManyRequests", Message: "throttled", RetryAfter: "1"})
	if _, err := newClient(t, fake).Put(context.Background(), vnet, apiN, vnetBody()); err != nil {
		t.Fatal(err)
	}
	var puts []armfake.Request
	for _, r := range fake.Writes() {
		puts = append(puts, r)
	}
	if len(puts) != 2 || puts[0].Status != 429 {
		t.Fatalf("want a 429 then a retried PUT, got %+v", puts)
	}
	if gap := puts[1].Start.Sub(puts[0].End); gap < 900*time.Millisecond {
		t.Errorf("the retry came %v after the 429; Retry-After asked for 1s", gap)
	}
}

func TestPrincipal(t *testing.T) {
	fake := armfake.New(armfake.Options{})
	defer fake.Close()
	p, err := newClient(t, fake).Principal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.ObjectID != armfake.UserObjectID || p.TenantID != armfake.TenantID {
		t.Errorf("got %+v", p)
	}
}

func TestSubscription(t *testing.T) {
	tests := map[string]struct {
		flag string
		env  map[string]string
		want string
	}{
		"flag wins":   {flag: "f", env: map[string]string{"ARM_SUBSCRIPTION_ID": "a", "AZURE_SUBSCRIPTION_ID": "z"}, want: "f"},
		"ARM first":   {env: map[string]string{"ARM_SUBSCRIPTION_ID": "a", "AZURE_SUBSCRIPTION_ID": "z"}, want: "a"},
		"AZURE last":  {env: map[string]string{"AZURE_SUBSCRIPTION_ID": "z"}, want: "z"},
		"none is set": {env: map[string]string{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := arm.Subscription(tt.flag, func(k string) string { return tt.env[k] })
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "--subscription") || !strings.Contains(err.Error(), "ARM_SUBSCRIPTION_ID") || !strings.Contains(err.Error(), "AZURE_SUBSCRIPTION_ID") {
					t.Fatalf("want an error naming all three sources, got %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

package arm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	armpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm/policy"
	armruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

const (
	moduleName    = "dualpeer/arm"
	moduleVersion = "v0.1.0"

	// DefaultPollInterval is the wait between polls of a long-running operation when ARM
	// sends no Retry-After. ARM's own guidance is to honour Retry-After; 5 s is what the
	// Azure SDKs use otherwise.
	DefaultPollInterval = 5 * time.Second
	// DefaultMaxPollDuration bounds one long-running operation. VM creation and AIO
	// extensions can take tens of minutes; two hours is far beyond what any step needs.
	DefaultMaxPollDuration = 2 * time.Hour
)

// Options configure a Client. The zero value talks to public Azure with DefaultAzureCredential.
type Options struct {
	// Credential authenticates requests; nil means azidentity.DefaultAzureCredential
	// (environment, workload identity, managed identity, az CLI, …).
	Credential azcore.TokenCredential
	// Endpoint is the ARM endpoint, e.g. https://management.azure.com (the default). Tests
	// point it at a fake.
	Endpoint string
	// Transport sends the HTTP requests (e.g. an httptest server's client); nil = default.
	Transport policy.Transporter
	// InsecureAllowHTTP lets the bearer token travel over plain http. Only for tests
	// against a local fake; never set it for real Azure.
	InsecureAllowHTTP bool
	// Retry configures azcore's retry policy (429 and 5xx, honouring Retry-After).
	Retry policy.RetryOptions
	// PollInterval is the wait between polls when ARM sends no Retry-After.
	PollInterval time.Duration
	// MaxPollDuration bounds each long-running operation.
	MaxPollDuration time.Duration
	// DisableRPRegistration turns off azcore's automatic resource-provider registration.
	DisableRPRegistration bool
}

// Client sends requests to ARM. It is safe for concurrent use.
type Client struct {
	pl       runtime.Pipeline
	cred     azcore.TokenCredential
	endpoint string
	scope    string
	poll     time.Duration
	maxPoll  time.Duration
}

// New builds a Client.
func New(opts Options) (*Client, error) {
	cred := opts.Credential
	if cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("find Azure credentials: %w (sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)", err)
		}
		cred = c
	}
	conf := cloud.AzurePublic.Services[cloud.ResourceManager]
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("ARM endpoint %q is not an absolute URL such as https://management.azure.com", opts.Endpoint)
		}
		conf.Endpoint = strings.TrimRight(opts.Endpoint, "/")
	}
	co := armpolicy.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:                           cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: conf}},
			Retry:                           opts.Retry,
			Transport:                       opts.Transport,
			InsecureAllowCredentialWithHTTP: opts.InsecureAllowHTTP,
		},
		DisableRPRegistration: opts.DisableRPRegistration,
	}
	co.Cloud.ActiveDirectoryAuthorityHost = cloud.AzurePublic.ActiveDirectoryAuthorityHost
	pl, err := armruntime.NewPipeline(moduleName, moduleVersion, cred, runtime.PipelineOptions{}, &co)
	if err != nil {
		return nil, fmt.Errorf("build the ARM request pipeline: %w", err)
	}
	c := &Client{pl: pl, cred: cred, endpoint: conf.Endpoint, scope: conf.Audience + "/.default",
		poll: opts.PollInterval, maxPoll: opts.MaxPollDuration}
	if c.poll <= 0 {
		c.poll = DefaultPollInterval
	}
	if c.maxPoll <= 0 {
		c.maxPoll = DefaultMaxPollDuration
	}
	return c, nil
}

func (c *Client) resourceURL(id, apiVersion string) (string, error) {
	if !strings.HasPrefix(id, "/") {
		return "", fmt.Errorf("ARM resource id %q must start with /subscriptions/ or /providers/", id)
	}
	if apiVersion == "" {
		return "", fmt.Errorf("ARM resource %s: no api-version given", id)
	}
	return c.endpoint + id + "?api-version=" + url.QueryEscape(apiVersion), nil
}

func (c *Client) send(ctx context.Context, method, rawURL string, body any) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, rawURL)
	if err != nil {
		return nil, err
	}
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, fmt.Errorf("encode the request body: %w", err)
		}
	}
	return c.pl.Do(req)
}

// Get reads a resource. A missing resource gives an error for which IsNotFound is true.
func (c *Client) Get(ctx context.Context, id, apiVersion string) (map[string]any, error) {
	u, err := c.resourceURL(id, apiVersion)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(http.MethodGet, id, resp)
	}
	return decodeBody(resp)
}

// Put creates or updates a resource and waits for its long-running operation to end. It
// returns the resource as ARM reports it afterwards (read-only fields filled).
func (c *Client) Put(ctx context.Context, id, apiVersion string, body any) (map[string]any, error) {
	u, err := c.resourceURL(id, apiVersion)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, http.MethodPut, u, body)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", id, err)
	}
	if !runtime.HasStatusCode(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted) {
		return nil, responseError(http.MethodPut, id, resp)
	}
	got, err := decodeBody(resp)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.maxPoll)
	defer cancel()
	switch {
	case resp.Header.Get("Azure-AsyncOperation") != "":
		if err := c.pollAsyncOperation(ctx, http.MethodPut, id, resp.Header.Get("Azure-AsyncOperation"), resp); err != nil {
			return nil, err
		}
	case resp.StatusCode == http.StatusAccepted && resp.Header.Get("Location") != "":
		if err := c.pollLocation(ctx, http.MethodPut, id, resp.Header.Get("Location"), resp); err != nil {
			return nil, err
		}
	default:
		if !isTerminal(provisioningState(got)) {
			return c.pollResource(ctx, id, apiVersion, resp)
		}
		if err := stateError(http.MethodPut, id, got); err != nil {
			return nil, err
		}
		return got, nil
	}
	// The final GET: after an asynchronous operation, the resource itself holds the result.
	final, err := c.Get(ctx, id, apiVersion)
	if err != nil {
		return nil, err
	}
	if err := stateError(http.MethodPut, id, final); err != nil {
		return nil, err
	}
	return final, nil
}

// Delete deletes a resource and waits until it is gone. Deleting a resource that does not
// exist succeeds: the goal (it is absent) is met.
func (c *Client) Delete(ctx context.Context, id, apiVersion string) error {
	u, err := c.resourceURL(id, apiVersion)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return fmt.Errorf("DELETE %s: %w", id, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent, http.StatusNotFound:
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Azure-AsyncOperation") != "" {
			break
		}
		return nil
	case http.StatusAccepted:
	default:
		return responseError(http.MethodDelete, id, resp)
	}
	ctx, cancel := context.WithTimeout(ctx, c.maxPoll)
	defer cancel()
	if op := resp.Header.Get("Azure-AsyncOperation"); op != "" {
		return c.pollAsyncOperation(ctx, http.MethodDelete, id, op, resp)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		return c.pollLocation(ctx, http.MethodDelete, id, loc, resp)
	}
	return nil
}

// pollAsyncOperation polls an Azure-AsyncOperation status monitor until its status is
// terminal (Succeeded, Failed, Canceled).
func (c *Client) pollAsyncOperation(ctx context.Context, method, id, opURL string, prev *http.Response) error {
	for {
		if err := sleep(ctx, c.delay(prev)); err != nil {
			return fmt.Errorf("%s %s: waiting for the operation to finish: %w", method, id, err)
		}
		resp, err := c.send(ctx, http.MethodGet, opURL, nil)
		if err != nil {
			return fmt.Errorf("%s %s: poll the operation status: %w", method, id, err)
		}
		if !runtime.HasStatusCode(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted) {
			return responseError(method, id, resp)
		}
		var op struct {
			Status string     `json:"status"`
			Error  *errorBody `json:"error"`
		}
		b, err := runtime.Payload(resp)
		if err != nil {
			return fmt.Errorf("%s %s: read the operation status: %w", method, id, err)
		}
		if err := json.Unmarshal(b, &op); err != nil {
			return fmt.Errorf("%s %s: the operation status is not JSON: %w", method, id, err)
		}
		switch strings.ToLower(op.Status) {
		case "succeeded":
			return nil
		case "failed", "canceled", "cancelled":
			oe := &OperationError{Method: method, ID: id, Status: op.Status}
			if op.Error != nil {
				oe.Code, oe.Message = op.Error.Code, op.Error.Message
			}
			return oe
		}
		prev = resp
	}
}

// pollLocation polls a Location URL until it stops answering 202 Accepted.
func (c *Client) pollLocation(ctx context.Context, method, id, loc string, prev *http.Response) error {
	for {
		if err := sleep(ctx, c.delay(prev)); err != nil {
			return fmt.Errorf("%s %s: waiting for the operation to finish: %w", method, id, err)
		}
		resp, err := c.send(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return fmt.Errorf("%s %s: poll the operation: %w", method, id, err)
		}
		switch {
		case resp.StatusCode == http.StatusAccepted:
			_ = resp.Body.Close()
			prev = resp
			continue
		case runtime.HasStatusCode(resp, http.StatusOK, http.StatusCreated, http.StatusNoContent):
			_ = resp.Body.Close()
			return nil
		case resp.StatusCode == http.StatusNotFound && method == http.MethodDelete:
			_ = resp.Body.Close()
			return nil
		default:
			err := responseError(method, id, resp)
			var ae *Error
			if errors.As(err, &ae) && ae.Code != "" {
				return &OperationError{Method: method, ID: id, Status: "Failed", Code: ae.Code, Message: ae.Message}
			}
			return err
		}
	}
}

// pollResource polls the resource itself until its provisioningState is terminal; ARM
// uses this for PUTs answered 201 without an operation header.
func (c *Client) pollResource(ctx context.Context, id, apiVersion string, prev *http.Response) (map[string]any, error) {
	for {
		if err := sleep(ctx, c.delay(prev)); err != nil {
			return nil, fmt.Errorf("PUT %s: waiting for provisioning to finish: %w", id, err)
		}
		u, _ := c.resourceURL(id, apiVersion)
		resp, err := c.send(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("PUT %s: poll the resource: %w", id, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, responseError(http.MethodGet, id, resp)
		}
		got, err := decodeBody(resp)
		if err != nil {
			return nil, fmt.Errorf("PUT %s: %w", id, err)
		}
		if isTerminal(provisioningState(got)) {
			return got, stateError(http.MethodPut, id, got)
		}
		prev = resp
	}
}

// delay is how long to wait before the next poll: ARM's Retry-After when it sent one.
func (c *Client) delay(resp *http.Response) time.Duration {
	if d := retryAfter(resp); d > 0 {
		return d
	}
	return c.poll
}

// Principal identifies who the credential signs in as.
type Principal struct {
	ObjectID string // the "oid" claim: for role assignments to the deploying user
	TenantID string // the "tid" claim: Key Vault's tenantId
}

// Principal reads the object and tenant ids from an ARM access token's claims. The token is
// not verified here: ARM verifies it; we only need to know whom it names.
func (c *Client) Principal(ctx context.Context) (Principal, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return Principal{}, fmt.Errorf("get an Azure access token: %w (sign in with `az login`)", err)
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return Principal{}, errors.New("the Azure access token is not a JWT; cannot tell which user is deploying")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Principal{}, fmt.Errorf("decode the Azure access token's claims: %w", err)
	}
	var claims struct {
		OID string `json:"oid"`
		TID string `json:"tid"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return Principal{}, fmt.Errorf("decode the Azure access token's claims: %w", err)
	}
	if claims.OID == "" || claims.TID == "" {
		return Principal{}, errors.New("the Azure access token has no oid/tid claims; sign in as a user or service principal (`az login`)")
	}
	return Principal{ObjectID: claims.OID, TenantID: claims.TID}, nil
}

func decodeBody(resp *http.Response) (map[string]any, error) {
	b, err := runtime.Payload(resp)
	if err != nil {
		return nil, fmt.Errorf("read the response: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the response is not a JSON object: %w", err)
	}
	return m, nil
}

// ProvisioningState returns properties.provisioningState, or "" when there is none.
func provisioningState(body map[string]any) string {
	props, _ := body["properties"].(map[string]any)
	s, _ := props["provisioningState"].(string)
	return s
}

// isTerminal: no provisioningState means the RP does not report one (synchronous).
func isTerminal(state string) bool {
	switch strings.ToLower(state) {
	case "", "succeeded", "failed", "canceled", "cancelled":
		return true
	}
	return false
}

func stateError(method, id string, body map[string]any) error {
	switch s := provisioningState(body); strings.ToLower(s) {
	case "failed", "canceled", "cancelled":
		return &OperationError{Method: method, ID: id, Status: s, Message: "the resource's provisioningState is " + s}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryAfter reads the headers ARM uses to pace polling, in azcore's order of preference.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	for _, h := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v, err := strconv.Atoi(resp.Header.Get(h)); err == nil && v > 0 {
			return time.Duration(v) * time.Millisecond
		}
	}
	if v, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 0
}

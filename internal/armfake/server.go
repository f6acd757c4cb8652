package armfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
)

// Options tune the fake.
type Options struct {
	// Polls is how many polls a long-running operation answers InProgress before it ends
	// (default 2).
	Polls int
	// Latency is added to every resource request so that concurrent requests overlap
	// measurably (default 0).
	Latency time.Duration
	// PollRetryAfter, when set, is sent as Retry-After on InProgress poll answers.
	PollRetryAfter string
	// LongRunning says which types answer PUT/DELETE asynchronously; nil = DefaultLongRunning.
	LongRunning func(resourceType string) bool
	// PrivateIP, when it returns non-empty, overrides the address assigned to a NIC's ip
	// configuration (to test code that must read the real address back).
	PrivateIP func(nicID string) string
	// Validate checks each PUT body; errors make the PUT fail with 400 InvalidRequestContent
	// and are kept for ValidationErrors.
	Validate func(resourceType, apiVersion string, body map[string]any) []error
	// OnSucceeded runs (without the server lock) when a PUT's provisioning ends Succeeded.
	// Tests use it to play the parts of Azure that happen inside a VM, e.g. the bootstrap
	// script creating the Arc connected cluster.
	OnSucceeded func(s *Server, id string, body map[string]any)
}

// DefaultLongRunning reports ARM's behaviour for the types dualpeer uses: network, compute,
// Kubernetes configuration, custom locations, IoT Operations and storage are asynchronous;
// resource groups, identities, role assignments, Key Vault secrets and blob containers are not.
func DefaultLongRunning(resourceType string) bool {
	switch strings.ToLower(resourceType) {
	case "microsoft.resources/resourcegroups",
		"microsoft.managedidentity/userassignedidentities",
		"microsoft.managedidentity/userassignedidentities/federatedidentitycredentials",
		"microsoft.authorization/roleassignments",
		"microsoft.keyvault/vaults/secrets",
		"microsoft.storage/storageaccounts/blobservices/containers",
		"microsoft.insights/components",
		"microsoft.operationsmanagement/solutions":
		return false
	}
	return true
}

// locationStyle: these RPs answer 202 + Location instead of Azure-AsyncOperation.
func locationStyle(resourceType string) bool {
	switch strings.ToLower(resourceType) {
	case "microsoft.storage/storageaccounts", "microsoft.resources/resourcegroups":
		return true
	}
	return false
}

// Request is one recorded request.
type Request struct {
	Method     string
	Path       string // the ARM id, or /_ops/<id> for operation polls
	APIVersion string
	Status     int
	Start, End time.Time
	Operation  bool // a poll of an operation, not a resource request
}

// Fault is an injected error answer.
type Fault struct {
	Method     string // "" matches any method
	Suffix     string // matches resource ids ending with it (case-insensitive); "" = any
	Status     int    // e.g. 409, 429, 503
	Code       string
	Message    string
	RetryAfter string // Retry-After header value
	Times      int    // how many requests it answers (default 1)
}

type resource struct {
	id         string
	rtype      string
	apiVersion string
	body       map[string]any
	writeOnly  map[string]any
	state      string
	doneAt     time.Time
	op         *operation // the pending operation, if any
}

type operation struct {
	key       string
	method    string
	pollsLeft int
	status    string
	failCode  string
	failMsg   string
	done      bool
}

// Server is the fake. Create it with New; Close it when done.
type Server struct {
	*httptest.Server
	opts Options

	mu         sync.Mutex
	res        map[string]*resource // key: lower-case id
	ops        map[string]*operation
	nextOp     int
	requests   []Request
	faults     []*Fault
	failOps    []*Fault
	active     int
	maxActive  int
	validation []string
}

// New starts a fake on 127.0.0.1 (plain http; clients must allow credentials over http).
func New(opts Options) *Server {
	if opts.Polls <= 0 {
		opts.Polls = 2
	}
	if opts.LongRunning == nil {
		opts.LongRunning = DefaultLongRunning
	}
	s := &Server{opts: opts, res: map[string]*resource{}, ops: map[string]*operation{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Inject adds a fault answered before normal processing.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// FailOperation makes the next asynchronous PUT of an id ending with suffix end Failed with
// ARM's error code and message.
func (s *Server) FailOperation(suffix, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOps = append(s.failOps, &Fault{Suffix: suffix, Code: code, Message: message, Times: 1})
}

// Seed creates a resource directly, as if something outside the client had made it.
func (s *Server) Seed(id string, body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		panic(fmt.Sprintf("armfake.Seed: bad id %q: %v", id, err))
	}
	b := clone(body)
	s.fillReadOnly(rid, id, b, "Succeeded")
	s.res[strings.ToLower(id)] = &resource{id: id, rtype: rid.ResourceType.String(), body: b, state: "Succeeded", doneAt: time.Now()}
}

// Resource returns a copy of a stored resource as GET would show it, or nil.
func (s *Server) Resource(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.res[strings.ToLower(id)]; r != nil {
		return clone(r.body)
	}
	return nil
}

// WriteOnly returns the write-only fields last PUT for a resource (properties.value,
// protectedSettings, protectedParameters), which GET never shows.
func (s *Server) WriteOnly(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.res[strings.ToLower(id)]; r != nil {
		return clone(r.writeOnly)
	}
	return nil
}

// IDs lists the stored resource ids, sorted.
func (s *Server) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.res {
		out = append(out, r.id)
	}
	sort.Strings(out)
	return out
}

// DoneAt is when a resource's provisioning last ended Succeeded (zero if never).
func (s *Server) DoneAt(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.res[strings.ToLower(id)]; r != nil {
		return r.doneAt
	}
	return time.Time{}
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Writes returns the PUT and DELETE requests on resources.
func (s *Server) Writes() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if !r.Operation && (r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			out = append(out, r)
		}
	}
	return out
}

// ResetLog clears the request log and the concurrency high-water mark.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.maxActive = s.active
}

// MaxConcurrentPuts is the high-water mark of PUTs in progress at once: from the PUT's
// arrival until its provisioning ended.
func (s *Server) MaxConcurrentPuts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActive
}

// ValidationErrors returns every schema error Options.Validate reported.
func (s *Server) ValidationErrors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.validation...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := Request{Method: r.Method, Path: r.URL.Path, APIVersion: r.URL.Query().Get("api-version"), Start: start}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.End = time.Now()
		rec.Status = sw.status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeError(sw, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_ops/") {
		rec.Operation = true
		s.poll(sw, strings.TrimPrefix(r.URL.Path, "/_ops/"), false)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_loc/") {
		rec.Operation = true
		s.poll(sw, strings.TrimPrefix(r.URL.Path, "/_loc/"), true)
		return
	}
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	if rec.APIVersion == "" {
		writeError(sw, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	if f := s.fault(r.Method, r.URL.Path); f != nil {
		if f.RetryAfter != "" {
			sw.Header().Set("Retry-After", f.RetryAfter)
		}
		writeError(sw, f.Status, f.Code, f.Message)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.get(sw, r.URL.Path)
	case http.MethodPut:
		s.put(sw, r, rec.APIVersion)
	case http.MethodDelete:
		s.delete(sw, r.URL.Path)
	default:
		writeError(sw, http.StatusMethodNotAllowed, "MethodNotAllowed", "The method "+r.Method+" is not allowed.")
	}
}

func (s *Server) fault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && strings.HasSuffix(strings.ToLower(path), strings.ToLower(f.Suffix)) {
			f.Times--
			if f.Times <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidResourceId", fmt.Sprintf("The resource id '%s' is invalid.", id))
		return
	}
	if r := s.res[strings.ToLower(id)]; r != nil {
		// Operations progress with time whether or not the client polls them; a GET of
		// the resource stands for that passing time.
		var hook func()
		if op := r.op; op != nil && !op.done {
			op.pollsLeft--
			if op.pollsLeft <= 0 {
				op.done = true
				hook = s.finish(op)
			}
		}
		out := clone(r.body)
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
		s.mu.Lock()
		writeJSON(w, http.StatusOK, out)
		return
	}
	if err := s.missingRG(rid); err != nil {
		writeError(w, http.StatusNotFound, "ResourceGroupNotFound", err.Error())
		return
	}
	writeError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", rid.ResourceType.String(), rid.Name, rid.ResourceGroupName))
}

func (s *Server) missingRG(rid *arm.ResourceID) error {
	if rid.ResourceGroupName == "" || strings.EqualFold(rid.ResourceType.String(), "Microsoft.Resources/resourceGroups") {
		return nil
	}
	rg := "/subscriptions/" + rid.SubscriptionID + "/resourceGroups/" + rid.ResourceGroupName
	if s.res[strings.ToLower(rg)] == nil {
		return fmt.Errorf("Resource group '%s' could not be found.", rid.ResourceGroupName)
	}
	return nil
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, apiVersion string) {
	id := r.URL.Path
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content could not be read.")
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return
	}
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidResourceId", fmt.Sprintf("The resource id '%s' is invalid.", id))
		return
	}
	rtype := rid.ResourceType.String()
	if s.opts.Validate != nil {
		if errs := s.opts.Validate(rtype, apiVersion, body); len(errs) > 0 {
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			s.mu.Lock()
			for _, m := range msgs {
				s.validation = append(s.validation, rtype+"@"+apiVersion+" "+id+": "+m)
			}
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "InvalidRequestContent", strings.Join(msgs, "; "))
			return
		}
	}

	s.mu.Lock()
	if err := s.missingRG(rid); err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "ResourceGroupNotFound", err.Error())
		return
	}
	if p := rid.Parent; p != nil && p.ResourceType.String() != "Microsoft.Resources/resourceGroups" && p.ResourceType.String() != "Microsoft.Resources/subscriptions" && p.ResourceType.String() != "Microsoft.Resources/tenants" {
		parent := s.res[strings.ToLower(p.String())]
		if parent == nil {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "ParentResourceNotFound", fmt.Sprintf("Can not perform requested operation on nested resource. Parent resource '%s' not found.", p.Name))
			return
		}
		if parent.state != "Succeeded" {
			s.mu.Unlock()
			writeError(w, http.StatusConflict, "AnotherOperationInProgress", fmt.Sprintf("Another operation on this or dependent resource is in progress: parent '%s' is %s.", p.Name, parent.state))
			return
		}
	}
	if code, msg := s.checkReferences(body); code != 0 {
		s.mu.Unlock()
		name := "InvalidResourceReference"
		if code == http.StatusConflict {
			name = "ReferencedResourceNotProvisioned"
		}
		writeError(w, code, name, msg)
		return
	}
	key := strings.ToLower(id)
	existing := s.res[key]
	if existing != nil && existing.state != "Succeeded" && existing.state != "Failed" {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "AnotherOperationInProgress", fmt.Sprintf("Operation on '%s' is not allowed: the resource is %s.", rid.Name, existing.state))
		return
	}
	status := http.StatusCreated
	state := "Creating"
	if existing != nil {
		status, state = http.StatusOK, "Updating"
	}
	lro := s.opts.LongRunning(rtype)
	if !lro {
		state = "Succeeded"
	}
	wo := splitWriteOnly(rtype, body)
	if existing != nil && wo == nil {
		wo = existing.writeOnly
	}
	if err := s.fillReadOnly(rid, id, body, state); err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "InvalidRequestContent", err.Error())
		return
	}
	res := &resource{id: id, rtype: rtype, apiVersion: apiVersion, body: body, writeOnly: wo, state: state}
	s.res[key] = res
	s.implicitChildren(rtype, id)
	s.active++
	if s.active > s.maxActive {
		s.maxActive = s.active
	}
	if !lro {
		s.active--
		res.doneAt = time.Now()
		out := clone(body)
		s.mu.Unlock()
		if s.opts.OnSucceeded != nil {
			s.opts.OnSucceeded(s, id, out)
		}
		writeJSON(w, status, out)
		return
	}
	op := &operation{key: key, method: http.MethodPut, pollsLeft: s.opts.Polls}
	for i, f := range s.failOps {
		if strings.HasSuffix(key, strings.ToLower(f.Suffix)) {
			op.failCode, op.failMsg = f.Code, f.Message
			s.failOps = append(s.failOps[:i], s.failOps[i+1:]...)
			break
		}
	}
	opID := s.newOp(op)
	res.op = op
	out := clone(body)
	s.mu.Unlock()
	if locationStyle(rtype) {
		w.Header().Set("Location", s.URL+"/_loc/"+opID)
		w.Header().Set("Retry-After", "0")
		writeJSON(w, http.StatusAccepted, nil)
		return
	}
	w.Header().Set("Azure-AsyncOperation", s.URL+"/_ops/"+opID+"?api-version="+apiVersion)
	writeJSON(w, status, out)
}

func (s *Server) newOp(op *operation) string {
	s.nextOp++
	id := fmt.Sprintf("op-%06d", s.nextOp)
	s.ops[id] = op
	return id
}

// implicitChildren creates the singleton sub-resources Azure makes with their parent: a
// storage account's blobServices/default, which its containers live under.
func (s *Server) implicitChildren(rtype, id string) {
	if !strings.EqualFold(rtype, "Microsoft.Storage/storageAccounts") {
		return
	}
	cid := id + "/blobServices/default"
	if s.res[strings.ToLower(cid)] == nil {
		s.res[strings.ToLower(cid)] = &resource{id: cid, rtype: rtype + "/blobServices", state: "Succeeded", doneAt: time.Now(),
			body: map[string]any{"id": cid, "name": "default", "type": rtype + "/blobServices", "properties": map[string]any{}}}
	}
}

// checkReferences rejects {"id": ...} references to resources that do not exist (400
// InvalidResourceReference) or are still provisioning (409), as the network RP does.
func (s *Server) checkReferences(body map[string]any) (int, string) {
	var code int
	var msg string
	walk(body, "", func(path string, m map[string]any) {
		if code != 0 || path == "" {
			return
		}
		ref, ok := m["id"].(string)
		if !ok || !strings.HasPrefix(strings.ToLower(ref), "/subscriptions/") {
			return
		}
		r := s.res[strings.ToLower(ref)]
		// Sub-resources such as a NIC's ip configuration live inside their parent.
		if r == nil {
			if rid, err := arm.ParseResourceID(ref); err == nil && rid.Parent != nil {
				if p := s.res[strings.ToLower(rid.Parent.String())]; p != nil && strings.Contains(strings.ToLower(rid.ResourceType.String()), "ipconfigurations") {
					return
				}
			}
			code, msg = http.StatusBadRequest, fmt.Sprintf("Resource %s referenced by %s was not found.", ref, path)
			return
		}
		if r.state != "Succeeded" {
			code, msg = http.StatusConflict, fmt.Sprintf("Referenced resource %s is in state %s; it must be Succeeded.", ref, r.state)
		}
	})
	return code, msg
}

func walk(v any, path string, fn func(string, map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		fn(path, t)
		for k, c := range t {
			walk(c, path+"."+k, fn)
		}
	case []any:
		for i, c := range t {
			walk(c, path+"["+strconv.Itoa(i)+"]", fn)
		}
	}
}

// splitWriteOnly removes the fields ARM never returns and gives them back.
func splitWriteOnly(rtype string, body map[string]any) map[string]any {
	out := map[string]any{}
	props, _ := body["properties"].(map[string]any)
	switch strings.ToLower(rtype) {
	case "microsoft.keyvault/vaults/secrets":
		if v, ok := props["value"]; ok {
			out["value"] = v
			delete(props, "value")
		}
	case "microsoft.compute/virtualmachines/extensions":
		if v, ok := props["protectedSettings"]; ok {
			out["protectedSettings"] = v
			delete(props, "protectedSettings")
		}
	case "microsoft.compute/virtualmachines/runcommands":
		if v, ok := props["protectedParameters"]; ok {
			out["protectedParameters"] = v
			delete(props, "protectedParameters")
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// fillReadOnly sets what ARM sets: id, name, type, provisioningState, normalised location,
// principal ids, NIC addresses, endpoints.
func (s *Server) fillReadOnly(rid *arm.ResourceID, id string, body map[string]any, state string) error {
	rtype := rid.ResourceType.String()
	body["id"] = id
	body["name"] = rid.Name
	body["type"] = rtype
	if loc, ok := body["location"].(string); ok {
		body["location"] = strings.ToLower(strings.ReplaceAll(loc, " ", ""))
	}
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		body["properties"] = props
	}
	props["provisioningState"] = state
	if ident, ok := body["identity"].(map[string]any); ok {
		if t, _ := ident["type"].(string); strings.Contains(strings.ToLower(t), "systemassigned") {
			ident["principalId"] = guid("principal", id)
			ident["tenantId"] = guid("tenant", "fake")
		}
		if uas, ok := ident["userAssignedIdentities"].(map[string]any); ok {
			for k := range uas {
				uas[k] = map[string]any{"principalId": guid("principal", strings.ToLower(k)), "clientId": guid("client", strings.ToLower(k))}
			}
		}
	}
	switch strings.ToLower(rtype) {
	case "microsoft.managedidentity/userassignedidentities":
		props["principalId"] = guid("principal", strings.ToLower(id))
		props["clientId"] = guid("client", strings.ToLower(id))
		props["tenantId"] = guid("tenant", "fake")
	case "microsoft.storage/storageaccounts":
		props["primaryEndpoints"] = map[string]any{"blob": "https://" + rid.Name + ".blob.core.windows.net/", "dfs": "https://" + rid.Name + ".dfs.core.windows.net/"}
	case "microsoft.keyvault/vaults":
		props["vaultUri"] = "https://" + rid.Name + ".vault.azure.net/"
	case "microsoft.network/networkinterfaces":
		return s.assignPrivateIPs(id, props)
	case "microsoft.network/virtualnetworks":
		props["resourceGuid"] = guid("vnet", id)
	}
	return nil
}

func (s *Server) assignPrivateIPs(nicID string, props map[string]any) error {
	cfgs, _ := props["ipConfigurations"].([]any)
	for _, c := range cfgs {
		cfg, _ := c.(map[string]any)
		if cfg == nil {
			continue
		}
		name, _ := cfg["name"].(string)
		cfg["id"] = nicID + "/ipConfigurations/" + name
		p, _ := cfg["properties"].(map[string]any)
		if p == nil {
			continue
		}
		if m, _ := p["privateIPAllocationMethod"].(string); strings.EqualFold(m, "Static") {
			continue
		}
		if ip, _ := p["privateIPAddress"].(string); ip != "" {
			continue // an update keeps the address it has
		}
		if old := s.res[strings.ToLower(nicID)]; old != nil {
			if ip := firstPrivateIP(old.body); ip != "" {
				p["privateIPAddress"] = ip
				continue
			}
		}
		if s.opts.PrivateIP != nil {
			if ip := s.opts.PrivateIP(nicID); ip != "" {
				p["privateIPAddress"] = ip
				continue
			}
		}
		subnet, _ := p["subnet"].(map[string]any)
		sid, _ := subnet["id"].(string)
		sn := s.res[strings.ToLower(sid)]
		if sn == nil {
			return fmt.Errorf("ipConfiguration %s: subnet %q not found", name, sid)
		}
		sp, _ := sn.body["properties"].(map[string]any)
		prefix, _ := sp["addressPrefix"].(string)
		ip, err := s.firstFree(prefix, nicID)
		if err != nil {
			return err
		}
		p["privateIPAddress"] = ip
		p["privateIPAddressVersion"] = "IPv4"
	}
	return nil
}

// firstFree: Azure reserves the network address, .1 (gateway), .2 and .3 (DNS); the first
// NIC in a subnet gets .4.
func (s *Server) firstFree(prefix, nicID string) (string, error) {
	pfx, err := netip.ParsePrefix(prefix)
	if err != nil {
		return "", fmt.Errorf("subnet addressPrefix %q: %w", prefix, err)
	}
	used := map[string]bool{}
	for k, r := range s.res {
		if strings.EqualFold(r.rtype, "Microsoft.Network/networkInterfaces") && k != strings.ToLower(nicID) {
			used[firstPrivateIP(r.body)] = true
		}
	}
	a := pfx.Masked().Addr()
	for i := 0; i < 4; i++ {
		a = a.Next()
	}
	for n := 0; n < 1<<16 && pfx.Contains(a); n++ {
		if !used[a.String()] {
			return a.String(), nil
		}
		a = a.Next()
	}
	return "", fmt.Errorf("subnet %s has no free address", prefix)
}

func firstPrivateIP(body map[string]any) string {
	props, _ := body["properties"].(map[string]any)
	cfgs, _ := props["ipConfigurations"].([]any)
	if len(cfgs) == 0 {
		return ""
	}
	c, _ := cfgs[0].(map[string]any)
	p, _ := c["properties"].(map[string]any)
	ip, _ := p["privateIPAddress"].(string)
	return ip
}

func (s *Server) poll(w http.ResponseWriter, opID string, location bool) {
	s.mu.Lock()
	op := s.ops[opID]
	if op == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "OperationNotFound", "The operation '"+opID+"' was not found.")
		return
	}
	var hook func()
	if !op.done {
		op.pollsLeft--
		if op.pollsLeft <= 0 {
			op.done = true
			hook = s.finish(op)
		}
	}
	status, code, msg, done := op.status, op.failCode, op.failMsg, op.done
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	if !done {
		if s.opts.PollRetryAfter != "" {
			w.Header().Set("Retry-After", s.opts.PollRetryAfter)
		}
		if location {
			w.Header().Set("Location", s.URL+"/_loc/"+opID)
			writeJSON(w, http.StatusAccepted, nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": opID, "name": opID, "status": "InProgress"})
		return
	}
	if location {
		if status == "Failed" {
			writeError(w, http.StatusBadRequest, code, msg)
			return
		}
		if op.method == http.MethodDelete {
			writeJSON(w, http.StatusNoContent, nil)
			return
		}
		writeJSON(w, http.StatusOK, nil)
		return
	}
	out := map[string]any{"id": opID, "name": opID, "status": status}
	if status == "Failed" {
		out["error"] = map[string]any{"code": code, "message": msg}
	}
	writeJSON(w, http.StatusOK, out)
}

// finish ends an operation (called with the lock held); it returns the success hook to run
// once the lock is released.
func (s *Server) finish(op *operation) func() {
	r := s.res[op.key]
	if op.method == http.MethodDelete {
		op.status = "Succeeded"
		for k := range s.res {
			if k == op.key || strings.HasPrefix(k, op.key+"/") {
				delete(s.res, k)
			}
		}
		return nil
	}
	s.active--
	if r == nil {
		op.status = "Failed"
		op.failCode, op.failMsg = "ResourceNotFound", "the resource was deleted while it was being provisioned"
		return nil
	}
	props, _ := r.body["properties"].(map[string]any)
	if op.failCode != "" {
		op.status = "Failed"
		r.state = "Failed"
		props["provisioningState"] = "Failed"
		return nil
	}
	op.status = "Succeeded"
	r.state = "Succeeded"
	props["provisioningState"] = "Succeeded"
	r.doneAt = time.Now()
	if s.opts.OnSucceeded == nil {
		return nil
	}
	id, body := r.id, clone(r.body)
	return func() { s.opts.OnSucceeded(s, id, body) }
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidResourceId", fmt.Sprintf("The resource id '%s' is invalid.", id))
		return
	}
	s.mu.Lock()
	key := strings.ToLower(id)
	r := s.res[key]
	if r == nil {
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rtype := rid.ResourceType.String()
	if !s.opts.LongRunning(rtype) && !locationStyle(rtype) {
		for k := range s.res {
			if k == key || strings.HasPrefix(k, key+"/") {
				delete(s.res, k)
			}
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	r.state = "Deleting"
	if props, ok := r.body["properties"].(map[string]any); ok {
		props["provisioningState"] = "Deleting"
	}
	opID := s.newOp(&operation{key: key, method: http.MethodDelete, pollsLeft: s.opts.Polls})
	s.mu.Unlock()
	if locationStyle(rtype) {
		w.Header().Set("Location", s.URL+"/_loc/"+opID)
	} else {
		w.Header().Set("Azure-AsyncOperation", s.URL+"/_ops/"+opID)
		w.Header().Set("Location", s.URL+"/_loc/"+opID)
	}
	w.WriteHeader(http.StatusAccepted)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if v == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with ARM's error envelope and the x-ms-error-code header azcore reads.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("x-ms-error-code", code)
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message}})
}

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// guid makes a stable, GUID-shaped id from its inputs.
func guid(kind, seed string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + seed))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

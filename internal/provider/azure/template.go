package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/plan"
)

const (
	subscriptionTemplateSchema = "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
	deploymentTemplateSchema   = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
	deploymentsAPIVersion      = "2022-09-01"
	tmplSub                    = blueprint.SubscriptionPlaceholder
)

// tmplValues renders run-time inputs as template expressions and parameters.
type tmplValues struct {
	cfg    *blueprint.Config
	params map[string]bool // secure parameters the template needs
}

func (t *tmplValues) sub() string    { return tmplSub }
func (t *tmplValues) tenant() string { return "[subscription().tenantId]" }
func (t *tmplValues) deployer() string {
	t.params["deployerObjectId"] = false
	return "[parameters('deployerObjectId')]"
}
func (t *tmplValues) sshKey() string {
	t.params["sshPublicKey"] = false
	return "[parameters('sshPublicKey')]"
}
func (t *tmplValues) serverIP() netip.Addr {
	return t.cfg.VMPrivateIP("a")
}
func (t *tmplValues) staticServerIP() bool { return true }

func (t *tmplValues) principalID(r *plan.Resource) (string, error) {
	if strings.EqualFold(r.Type, "Microsoft.ManagedIdentity/userAssignedIdentities") {
		return "[" + refExpr(r) + ".properties.principalId]", nil
	}
	return "[" + refExpr(r) + ".identity.principalId]", nil
}
func (t *tmplValues) clientID(r *plan.Resource) (string, error) {
	return "[" + refExpr(r) + ".properties.clientId]", nil
}
func (t *tmplValues) oidcIssuer(arc *plan.Resource) (string, error) {
	return "[" + refExpr(arc) + ".properties.oidcIssuerProfile.issuerUrl]", nil
}
func (t *tmplValues) blobEndpoint(st *plan.Resource) (string, error) {
	return "[" + refExpr(st) + ".properties.primaryEndpoints.blob]", nil
}
func (t *tmplValues) secret(_ context.Context, name string) (string, error) {
	t.params[name] = true
	return "[parameters('" + name + "')]", nil
}
func (t *tmplValues) setupScript(_ context.Context, cluster string) (string, error) {
	return k3sSetupScript(t.cfg, cluster), nil
}
func (t *tmplValues) runCommand(_ context.Context, cluster string) (string, map[string]string, error) {
	p := "setupScript" + strings.ToUpper(cluster)
	t.params[p] = true
	return runCommandLauncher, map[string]string{"DUALPEER_SCRIPT_B64": "[parameters('" + p + "')]"}, nil
}

// refExpr is reference() of a plan resource by its full id, valid from any deployment.
func refExpr(r *plan.Resource) string {
	return "reference(" + idExpr(r.ID) + ", '" + r.APIVersion + "', 'Full')"
}

// idExpr turns an id built with the placeholder subscription into an expression.
func idExpr(id string) string {
	rest := strings.TrimPrefix(subst(id, tmplSub), "/subscriptions/"+tmplSub)
	return "concat(subscription().id, '" + strings.ReplaceAll(rest, "'", "''") + "')"
}

func rgOf(id string) string {
	r, err := arm.ParseResourceID(id)
	if err != nil {
		return ""
	}
	return r.ResourceGroupName
}

func nameSegs(id string) []string {
	r, err := arm.ParseResourceID(id)
	if err != nil {
		return nil
	}
	var out []string
	for x := r; x != nil && x.ResourceType.String() != "Microsoft.Resources/resourceGroups" && x.ResourceType.String() != "Microsoft.Resources/subscriptions"; x = x.Parent {
		if x.Parent != nil && !strings.EqualFold(x.Parent.ResourceType.Namespace, x.ResourceType.Namespace) && x.Parent.ResourceType.String() != "Microsoft.Resources/resourceGroups" {
			out = append([]string{x.Name}, out...)
			break // an extension resource: its own name only; the scope is separate
		}
		out = append([]string{x.Name}, out...)
	}
	return out
}

// scopeOf returns the scope of an extension resource (a resource id) or "".
func scopeOf(id string) string {
	i := strings.LastIndex(strings.ToLower(id), "/providers/")
	j := strings.Index(strings.ToLower(id), "/providers/")
	if i <= j {
		return ""
	}
	return id[:i]
}

// literalIDs rewrites every string that is a placeholder-subscription id into an expression.
func literalIDs(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			nk := k
			if strings.HasPrefix(k, "/subscriptions/"+tmplSub) {
				// keys of userAssignedIdentities must be expressions too
				nk = "[" + idExpr(k) + "]"
			}
			out[nk] = literalIDs(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = literalIDs(x)
		}
		return out
	case string:
		if strings.HasPrefix(t, "/subscriptions/"+tmplSub) {
			return "[" + idExpr(t) + "]"
		}
		return t
	}
	return v
}

// ExportTemplate renders the plan's Azure resources as one subscription-scope ARM deployment
// template (for `az deployment sub create`): resource groups at subscription scope, each
// group's resources in a nested Microsoft.Resources/deployments. Certificates and the setup
// scripts are secure parameters, never literal values; A's NIC gets the planned address as a
// static IP, because a template cannot reissue the server certificate after the fact.
func ExportTemplate(p *plan.Plan) ([]byte, error) {
	if p == nil || p.Config == nil {
		return nil, fmt.Errorf("export template: the plan has no configuration")
	}
	v := &tmplValues{cfg: p.Config, params: map[string]bool{}}
	bb := &bodyBuilder{cfg: p.Config, p: p, v: v}
	ctx := context.Background()
	byAddr := map[string]*plan.Resource{}
	for _, r := range p.Resources {
		byAddr[r.Address] = r
	}
	var top []any
	type group struct {
		rg        string
		resources []any
		dependsOn map[string]bool
	}
	groups := map[string]*group{}
	var order []string
	stage := map[string]int{}       // 0: the group's main deployment, 1: after the other groups'
	for _, r := range p.Resources { // topological: dependencies first
		if !isARM(r) {
			continue
		}
		rg := rgOf(r.ID)
		for _, d := range r.DependsOn {
			if dr := byAddr[d]; dr != nil && isARM(dr) && !strings.EqualFold(dr.Type, typeRG) && (rgOf(dr.ID) != rg || stage[d] == 1) {
				stage[r.Address] = 1
			}
		}
	}
	depName := func(rg string, st int) string {
		if st == 1 {
			return "dualpeer-" + rg + "-links"
		}
		return "dualpeer-" + rg
	}
	for _, r := range p.Resources {
		if !isARM(r) {
			continue
		}
		body, err := bb.body(ctx, r)
		if err != nil && !strings.EqualFold(r.Type, typeArc) {
			return nil, err
		}
		res := map[string]any{"type": r.Type, "apiVersion": r.APIVersion}
		for k, x := range literalIDs(body).(map[string]any) {
			res[k] = x
		}
		if typeIs(r, typeRG) {
			res["name"] = r.Name
			if (r.Cluster == plan.ClusterA && p.Config.UseExistingResourceGroupA) || (r.Cluster == plan.ClusterB && p.Config.UseExistingResourceGroupB) {
				res["condition"] = false // an existing group: listed, never deployed
			}
			top = append(top, res)
			continue
		}
		if typeIs(r, typeArc) {
			// Created by the VM's bootstrap, not by the template: listed so that dependsOn
			// and reference() name it, never deployed.
			res = map[string]any{"type": r.Type, "apiVersion": r.APIVersion, "location": p.Config.Location, "condition": false}
		}
		rg := rgOf(r.ID)
		if rg == "" {
			// Subscription scope (a role assignment on the subscription): a top-level
			// resource, after the deployments holding what it refers to.
			res["name"] = r.Name
			var deps []string
			for _, d := range r.DependsOn {
				if dr := byAddr[d]; dr != nil && isARM(dr) && !typeIs(dr, typeRG) {
					deps = append(deps, "[subscriptionResourceId('Microsoft.Resources/deployments', '"+depName(rgOf(dr.ID), stage[d])+"')]")
				}
			}
			if len(deps) > 0 {
				res["dependsOn"] = toAny(deps)
			}
			top = append(top, res)
			continue
		}
		segs := nameSegs(r.ID)
		res["name"] = strings.Join(segs, "/")
		if sc := scopeOf(r.ID); sc != "" {
			sr, err := arm.ParseResourceID(sc)
			if err == nil {
				res["scope"] = sr.ResourceType.Namespace + "/" + strings.Join(sr.ResourceType.Types, "/") + "/" + strings.Join(nameSegs(sc), "/")
			}
		}
		var deps []string
		for _, d := range expandDeps(r, byAddr) {
			dr := byAddr[d]
			if dr == nil || !isARM(dr) || typeIs(dr, typeRG) {
				continue
			}
			if rgOf(dr.ID) == rg && stage[d] == stage[r.Address] {
				deps = append(deps, "["+idExpr(dr.ID)+"]")
			}
		}
		if len(deps) > 0 {
			res["dependsOn"] = toAny(deps)
		}
		key := depName(rg, stage[r.Address])
		g := groups[key]
		if g == nil {
			g = &group{rg: rg, dependsOn: map[string]bool{}}
			groups[key] = g
			order = append(order, key)
		}
		for _, d := range r.DependsOn {
			dr := byAddr[d]
			if dr == nil || !isARM(dr) {
				continue
			}
			if typeIs(dr, typeRG) {
				g.dependsOn["[subscriptionResourceId('Microsoft.Resources/resourceGroups', '"+dr.Name+"')]"] = true
				continue
			}
			if other := depName(rgOf(dr.ID), stage[d]); other != key {
				g.dependsOn["[subscriptionResourceId('Microsoft.Resources/deployments', '"+other+"')]"] = true
			}
		}
		g.resources = append(g.resources, res)
	}
	params := map[string]any{}
	for _, name := range sortedKeys(v.params) {
		t := "string"
		if v.params[name] {
			t = "securestring"
		}
		params[name] = map[string]any{"type": t}
	}
	for _, key := range order {
		g := groups[key]
		deps := sortedKeys(g.dependsOn)
		innerParams := map[string]any{}
		passed := map[string]any{}
		raw, _ := json.Marshal(g.resources)
		for name, def := range params {
			if strings.Contains(string(raw), "parameters('"+name+"')") {
				innerParams[name] = def
				passed[name] = map[string]any{"value": "[parameters('" + name + "')]"}
			}
		}
		d := map[string]any{
			"type": "Microsoft.Resources/deployments", "apiVersion": deploymentsAPIVersion, "name": key,
			"resourceGroup": g.rg, "location": p.Config.Location,
			"properties": map[string]any{
				"mode":                        "Incremental",
				"expressionEvaluationOptions": map[string]any{"scope": "inner"},
				"parameters":                  passed,
				"template": map[string]any{
					"$schema": deploymentTemplateSchema, "contentVersion": "1.0.0.0",
					"parameters": innerParams, "resources": g.resources,
				},
			},
		}
		delete(d, "location")
		if len(deps) > 0 {
			d["dependsOn"] = toAny(deps)
		}
		top = append(top, d)
	}
	doc := map[string]any{
		"$schema":        subscriptionTemplateSchema,
		"contentVersion": "1.0.0.0",
		"metadata":       map[string]any{"generator": "dualpeer plan -o arm-template"},
		"parameters":     params,
		"resources":      top,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export template: %w", err)
	}
	return append(b, '\n'), nil
}

// expandDeps replaces dependencies on the Arc cluster (not deployed by the template, so ARM
// drops it from the graph) with the Arc cluster's own dependencies (the bootstrap extension,
// which finishes only when the cluster is connected).
func expandDeps(r *plan.Resource, byAddr map[string]*plan.Resource) []string {
	seen := map[string]bool{}
	var out []string
	var add func(d string)
	add = func(d string) {
		if seen[d] {
			return
		}
		seen[d] = true
		out = append(out, d)
		if dr := byAddr[d]; dr != nil && typeIs(dr, typeArc) {
			for _, x := range dr.DependsOn {
				add(x)
			}
		}
	}
	for _, d := range r.DependsOn {
		add(d)
	}
	sort.Strings(out)
	return out
}

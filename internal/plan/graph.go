package plan

import (
	"fmt"
	"sort"
	"strings"
)

// topoSort orders resources so that every resource comes after what it depends on. Among
// resources that are ready at the same time the smaller address goes first, so the order is
// the same on every run. A dependency on a missing address or a cycle is an error.
func topoSort(list []*Resource) ([]*Resource, error) {
	byAddr := make(map[string]*Resource, len(list))
	for _, r := range list {
		byAddr[r.Address] = r
	}
	indeg := map[string]int{}
	users := map[string][]string{}
	for _, r := range list {
		r.DependsOn = dedupSorted(r.DependsOn)
		for _, d := range r.DependsOn {
			if _, ok := byAddr[d]; !ok {
				return nil, fmt.Errorf("plan: %s depends on %s, which is not in the plan (a bug in dualpeer)", r.Address, d)
			}
			indeg[r.Address]++
			users[d] = append(users[d], r.Address)
		}
	}
	var ready []string
	for _, r := range list {
		if indeg[r.Address] == 0 {
			ready = append(ready, r.Address)
		}
	}
	sort.Strings(ready)
	out := make([]*Resource, 0, len(list))
	for len(ready) > 0 {
		a := ready[0]
		ready = ready[1:]
		out = append(out, byAddr[a])
		var next []string
		for _, u := range users[a] {
			indeg[u]--
			if indeg[u] == 0 {
				next = append(next, u)
			}
		}
		if len(next) > 0 {
			ready = append(ready, next...)
			sort.Strings(ready)
		}
	}
	if len(out) != len(list) {
		var stuck []string
		for _, r := range list {
			if indeg[r.Address] > 0 {
				stuck = append(stuck, r.Address)
			}
		}
		sort.Strings(stuck)
		return nil, fmt.Errorf("plan: dependency cycle among %s", strings.Join(stuck, ", "))
	}
	return out, nil
}

// CheckAcyclic verifies that the plan's dependencies form a DAG over its own resources.
func (p *Plan) CheckAcyclic() error {
	cp := make([]*Resource, len(p.Resources))
	for i, r := range p.Resources {
		c := *r
		c.DependsOn = append([]string(nil), r.DependsOn...)
		cp[i] = &c
	}
	_, err := topoSort(cp)
	return err
}

func dedupSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	m := map[string]bool{}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !m[s] {
			m[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

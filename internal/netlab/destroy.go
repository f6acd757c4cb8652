package netlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BusyError reports processes still inside a namespace that Destroy removed. The name is gone
// (it no longer shows in `ip netns list`), but the kernel keeps the namespace and its links
// until those processes exit.
type BusyError struct {
	Namespace string
	Pids      []int
}

func (e *BusyError) Error() string {
	ps := make([]string, len(e.Pids))
	for i, p := range e.Pids {
		ps[i] = strconv.Itoa(p)
	}
	return fmt.Sprintf("network namespace %s was removed but processes %s still run inside it and keep its links alive: "+
		"stop them (kill %s); `dualpeer down` stops the agents it started", e.Namespace, strings.Join(ps, ", "), strings.Join(ps, " "))
}

// Destroy removes everything of t's deployment, including leftovers of a partial Apply.
// Nothing to remove is success.
func Destroy(ctx context.Context, t Topology) error {
	return DestroyByID(ctx, t.ID)
}

// DestroyByID removes every namespace whose name starts with "dp-<id>-" (and with it every
// link, address, route and rule inside), plus any "dp-<id>-" link in the host's namespace (netlab
// never makes one there; a foreign crash might). It works from names alone, for cleanup when the
// configuration is gone. Processes still inside a namespace are reported as a *BusyError after
// everything else was removed.
func DestroyByID(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if err := CheckPrivileges(); err != nil {
		return err
	}
	prefix := idPrefix(id)
	names, err := namespacesWithPrefix(prefix)
	if err != nil {
		return err
	}
	// Find processes still inside before the names go: one /proc scan for all namespaces.
	busy := map[string][]int{}
	var stats []unix.Stat_t
	var statNames []string
	for _, name := range names {
		var st unix.Stat_t
		if ok, _ := nsExists(name); ok && unix.Stat(nsPath(name), &st) == nil {
			stats, statNames = append(stats, st), append(statNames, name)
		}
	}
	if len(stats) > 0 {
		pids, err := processesInAny(stats)
		if err != nil {
			return err
		}
		for i, ps := range pids {
			if len(ps) > 0 {
				busy[statNames[i]] = ps
			}
		}
	}
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := deleteNS(name); err != nil {
			errs = append(errs, err)
			continue
		}
		if pids := busy[name]; len(pids) > 0 {
			errs = append(errs, &BusyError{Namespace: name, Pids: pids})
		}
	}
	if err := deleteHostLinks(ctx, prefix); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// namespacesWithPrefix lists RunDir entries with the prefix, sorted.
func namespacesWithPrefix(prefix string) ([]string, error) {
	ents, err := os.ReadDir(RunDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, privilegeError("list "+RunDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// deleteHostLinks removes links named with prefix from the host's namespace.
func deleteHostLinks(ctx context.Context, prefix string) error {
	links, err := retryValue(ctx, netlink.LinkList)
	if err != nil {
		return fmt.Errorf("list links in the host namespace: %w", err)
	}
	var errs []error
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, prefix) {
			continue
		}
		if err := retry(ctx, func() error { return netlink.LinkDel(l) }); err != nil && !notFound(err) {
			errs = append(errs, privilegeError("delete link "+l.Attrs().Name+" from the host namespace", err))
		}
	}
	return errors.Join(errs...)
}

// ListIDs returns the ids of every deployment with a namespace on this host, sorted, so a
// cleanup tool can find what a lost state directory left behind.
func ListIDs() ([]string, error) {
	names, err := namespacesWithPrefix(namePrefix)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if id := idOf(n); ValidateID(id) == nil && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

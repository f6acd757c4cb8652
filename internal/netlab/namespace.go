package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RunDir is where named network namespaces live, the same directory `ip netns` uses, so
// `ip netns list` and `ip netns exec` see the lab.
const RunDir = "/run/netns"

// ErrNotPrivileged is wrapped by every error caused by missing capabilities.
var ErrNotPrivileged = errors.New("dualpeer needs root (CAP_NET_ADMIN) to create network namespaces; run it with sudo")

// Capability bits from linux/capability.h.
const (
	capNetAdmin = 12
	capSysAdmin = 21 // mount(2) for the namespace files and setns(2)
)

// CheckPrivileges reports whether this process may build the lab. It reads the effective
// capability set instead of comparing the uid with 0, so a capability-granted binary works too.
func CheckPrivileges() error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("%w (could not read capabilities: %v)", ErrNotPrivileged, err)
	}
	var missing []string
	if eff&(1<<capNetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if eff&(1<<capSysAdmin) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (missing %s)", ErrNotPrivileged, strings.Join(missing, ", "))
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// privilegeError turns EPERM/EACCES into the user-facing privilege error.
func privilegeError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w (%v)", what, ErrNotPrivileged, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// runDirMu serialises the one-time setup of RunDir's mount within this process. It guards a
// host-wide resource, not configuration, which is why it is package-level.
var runDirMu sync.Mutex

// ensureRunDir prepares RunDir the way iproute2's `ip netns add` does: a directory that is a
// mount point with shared propagation, so that namespace files bound into it later propagate to
// mount namespaces created by `ip netns exec`, and unmounting them there (Destroy) really frees
// them instead of leaving copies pinned in other mount namespaces.
func ensureRunDir() error {
	runDirMu.Lock()
	defer runDirMu.Unlock()
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return privilegeError("create "+RunDir, err)
	}
	bound := false
	for {
		err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		// EINVAL: RunDir is not a mount point yet; bind it onto itself once, then retry.
		if !errors.Is(err, unix.EINVAL) || bound {
			return privilegeError("make "+RunDir+" a shared mount", err)
		}
		if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return privilegeError("bind-mount "+RunDir+" onto itself", err)
		}
		bound = true
	}
}

func nsPath(name string) string { return filepath.Join(RunDir, name) }

// nsExists says whether name is a live namespace file (an nsfs bind mount). A plain file left by
// a crash between creating the file and mounting the namespace on it does not count.
func nsExists(name string) (bool, error) {
	var st unix.Statfs_t
	err := unix.Statfs(nsPath(name), &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect namespace file %s: %w", nsPath(name), err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// createNS creates the named namespace unless it exists, and completes a half-created one.
func createNS(name string) error {
	ok, err := nsExists(name)
	if err != nil || ok {
		return err
	}
	p := nsPath(name)
	// A leftover empty file (crash before the bind mount) is ours to replace.
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return privilegeError("remove stale namespace file "+p, err)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return privilegeError("create namespace file "+p, err)
	}
	f.Close()
	err = onLockedThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return privilegeError("create network namespace "+name, err)
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
			return privilegeError("bind namespace "+name+" to "+p, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// deleteNS removes the named namespace; a missing one is success. The kernel frees the
// namespace, and with it every link inside, once no process and no open handle holds it.
func deleteNS(name string) error {
	p := nsPath(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return privilegeError("unmount namespace "+name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return privilegeError("remove namespace file "+p, err)
	}
	return nil
}

// openNS opens a handle on the named namespace; close it when done.
func openNS(name string) (netns.NsHandle, error) {
	ok, err := nsExists(name)
	if err != nil {
		return netns.None(), err
	}
	if !ok {
		return netns.None(), fmt.Errorf("network namespace %s does not exist: run Apply (`dualpeer up`) first: %w", name, fs.ErrNotExist)
	}
	h, err := netns.GetFromPath(nsPath(name))
	if err != nil {
		return netns.None(), privilegeError("open network namespace "+name, err)
	}
	return h, nil
}

// onLockedThread runs fn on a fresh goroutine locked to its OS thread and puts the thread back
// into the original network namespace afterwards. If that fails, the goroutine exits still
// locked, and the Go runtime then destroys the thread instead of reusing it: no goroutine is
// ever scheduled onto a thread left in a lab namespace.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open the current network namespace: %w", err)
			return
		}
		defer origin.Close()
		ferr := callRecover(fn)
		if err := netns.Set(origin); err != nil {
			// Stay locked: the thread dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// callRecover turns a panic in fn into an error, so the thread still gets restored and the
// panic does not take the whole program down from a goroutine nobody can recover.
func callRecover(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic inside a lab namespace: %v", r)
		}
	}()
	return fn()
}

// Do runs fn inside the named network namespace, for in-process probes and listeners.
//
// Thread rules, because a network namespace belongs to an OS thread, not to a goroutine:
//   - fn runs on its own goroutine, locked to an OS thread that has joined the namespace; Do
//     waits for it and returns its error. The thread is returned to the original namespace
//     afterwards (or discarded if that fails), so no other goroutine ever runs in the lab.
//   - Only fn's own goroutine is in the namespace. Goroutines that fn starts run in the host's
//     namespace: never create sockets in them.
//   - A socket belongs to the namespace it was created in for its whole life. Create listeners
//     and connections inside fn (net.Listen, net.Dial), then use them from any goroutine.
//   - Dial IP literals only: resolving a host name may open sockets on other threads, that is
//     in the host's namespace.
//   - Keep fn short; it pins an OS thread while it runs.
func Do(nsName string, fn func() error) error {
	h, err := openNS(nsName)
	if err != nil {
		return err
	}
	defer h.Close()
	return doIn(h, fn)
}

func doIn(h netns.NsHandle, fn func() error) error {
	return onLockedThread(func() error {
		if err := netns.Set(h); err != nil {
			return privilegeError("enter network namespace", err)
		}
		return fn()
	})
}

// Command returns a command that runs name with args inside the named namespace through
// `ip netns exec` (which also gives it the namespace's view of /sys). Use it for every tool that
// talks to a lab address, so no such packet leaves from the host's namespace.
// A name outside the lab (not starting with "dp-") yields a command whose Run fails.
func Command(ctx context.Context, nsName, name string, arg ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nsName, name}, arg...)...)
	if cmd.Err != nil {
		cmd.Err = fmt.Errorf("%w: install iproute2 (apt-get install iproute2)", cmd.Err)
	}
	if !strings.HasPrefix(nsName, namePrefix) {
		cmd.Err = fmt.Errorf("refusing to run %s in network namespace %q: lab namespaces start with %q (see Names)", name, nsName, namePrefix)
	}
	return cmd
}

// Processes lists the pids of processes whose network namespace is the named one. Destroy uses
// it to report processes that keep a deleted namespace (and its links) alive.
func Processes(nsName string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(nsPath(nsName), &want); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("inspect namespace %s: %w", nsName, err)
	}
	return processesIn(want)
}

func processesIn(want unix.Stat_t) ([]int, error) {
	pids, err := processesInAny([]unix.Stat_t{want})
	if err != nil {
		return nil, err
	}
	return pids[0], nil
}

// processesInAny scans /proc once and returns, per wanted namespace, the pids inside it.
func processesInAny(want []unix.Stat_t) ([][]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := make([][]int, len(want))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
			continue // gone, or a process we may not inspect
		}
		for i, w := range want {
			if st.Dev == w.Dev && st.Ino == w.Ino {
				out[i] = append(out[i], pid)
			}
		}
	}
	return out, nil
}

package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// TickDuration is one USER_HZ clock tick (see the package documentation).
const TickDuration = 10 * time.Millisecond

// Sample is one reading of a process.
type Sample struct {
	Pid      int
	CPU      time.Duration // utime + stime since the process started
	HWMBytes int64         // VmHWM: peak resident set since start or the last ResetPeak
	RSSBytes int64         // VmRSS now
}

// Read samples pid.
func Read(pid int) (Sample, error) {
	s := Sample{Pid: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read CPU time of pid %d: %w (did the process exit?)", pid, err)
	}
	ticks, err := cpuTicks(stat)
	if err != nil {
		return s, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	s.CPU = time.Duration(ticks) * TickDuration
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read memory of pid %d: %w (did the process exit?)", pid, err)
	}
	s.HWMBytes, s.RSSBytes, err = memory(status)
	if err != nil {
		return s, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
	}
	return s, nil
}

// ResetPeak resets pid's VmHWM to its current RSS. It needs the right to write the process's
// clear_refs (the same user, or root).
func ResetPeak(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the peak RSS of pid %d through /proc/%d/clear_refs: %w (run as root)", pid, pid, err)
	}
	return nil
}

// Comm is the process's command name (/proc/<pid>/comm), e.g. "dualpeer" or "mosquitto".
func Comm(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "", fmt.Errorf("read the command name of pid %d: %w", pid, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// cpuTicks returns utime+stime (fields 14 and 15). The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are counted from the
// last ')'.
func cpuTicks(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name", len(f))
	}
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", f[11], err)
	}
	s, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", f[12], err)
	}
	return u + s, nil
}

func memory(status []byte) (hwm, rss int64, err error) {
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: unexpected value %q", k, v)
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, perr)
		}
		if k == "VmHWM" {
			hwm = n * 1024
		} else {
			rss = n * 1024
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("no VmHWM/VmRSS lines (a kernel thread or a zombie?)")
	}
	return hwm, rss, nil
}

// Package procstat reads the CPU time and memory of processes from /proc, which is what the
// benchmark reports as "CPU per message" and "peak RSS".
//
// CPU is utime+stime from /proc/<pid>/stat in clock ticks. Linux reports these in USER_HZ,
// which is 100 on every architecture the kernel exports to user space (sysconf(_SC_CLK_TCK)),
// so a tick is 10 ms: use message counts large enough that a run takes many ticks.
//
// Peak RSS is VmHWM from /proc/<pid>/status. ResetPeak writes "5" to /proc/<pid>/clear_refs,
// which resets VmHWM to the current RSS (Linux 4.0+), so the peak of one workload can be read
// even though the process has run others before.
package procstat

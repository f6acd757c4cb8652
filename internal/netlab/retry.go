package netlab

import (
	"context"
	"errors"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// retryAttempts bounds retries of transient netlink errors: enough to ride out a busy kernel
// (a dump interrupted by a concurrent change, a full socket buffer), short enough to fail fast.
const retryAttempts = 5

// transient says whether a netlink error is worth another try.
func transient(err error) bool {
	return errors.Is(err, netlink.ErrDumpInterrupted) ||
		errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EAGAIN) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EINTR)
}

// retry runs fn until it succeeds, fails permanently, the attempts run out or ctx ends.
func retry(ctx context.Context, fn func() error) error {
	delay := 5 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(); err == nil || !transient(err) || attempt == retryAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// retryValue is retry for calls that return a value (lookups and dumps).
func retryValue[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	var v T
	err := retry(ctx, func() error {
		var err error
		v, err = fn()
		return err
	})
	return v, err
}

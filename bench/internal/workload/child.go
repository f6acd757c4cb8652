package workload

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/loadgen"
)

// event is one JSON line a child prints.
type event struct {
	Event string             `json:"event"` // "ready" or "result"
	Pub   *loadgen.PubResult `json:"pub,omitempty"`
	Sub   *loadgen.SubResult `json:"sub,omitempty"`
	Error string             `json:"error,omitempty"`
}

func emit(w io.Writer, e event) {
	b, _ := json.Marshal(e)
	fmt.Fprintf(w, "%s\n", b)
}

// PubMain is the `pub` child: it publishes and prints the result as one JSON line.
func PubMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c loadgen.PubConfig
	var qos uint
	var timeout time.Duration
	fs.StringVar(&c.Target.Addr, "addr", "127.0.0.1:18884", "broker address (IP:port) inside this namespace")
	fs.StringVar(&c.Target.ClientID, "client-id", "bench-pub", "MQTT client id")
	fs.StringVar(&c.Topic, "topic", "input", "topic")
	fs.IntVar(&c.N, "n", 1000, "messages")
	fs.IntVar(&c.Size, "size", 64, "payload bytes")
	fs.UintVar(&qos, "qos", 1, "QoS 0 or 1")
	fs.Float64Var(&c.Rate, "rate", 0, "messages per second, 0 = as fast as possible")
	fs.Uint64Var(&c.RunID, "run-id", 0, "run id carried in every payload")
	fs.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	fs.DurationVar(&c.Window, "window", 0, "with -rate: send only in this publisher's windows of this length (interleaved runs)")
	fs.IntVar(&c.Slot, "slot", 0, "with -window: this publisher's window, 0 to -slots - 1")
	fs.IntVar(&c.Slots, "slots", 1, "with -window: publishers taking turns")
	startAt := fs.Int64("start-at", 0, "with -window: the schedule's start, Unix nanoseconds (0: now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.QoS = byte(qos)
	if *startAt > 0 {
		c.Start = time.Unix(0, *startAt)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := loadgen.Publish(ctx, c)
	e := event{Event: "result", Pub: &r}
	if err != nil {
		e.Error = err.Error()
	}
	emit(stdout, e)
	return err
}

// SubMain is the `sub` child: it subscribes, prints "ready", collects until done (stdin
// closed means the publisher finished) and prints the result.
func SubMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c loadgen.SubConfig
	var qos uint
	var timeout time.Duration
	var ca, cert, key, serverName string
	fs.StringVar(&c.Target.Addr, "addr", "", "broker address (IP:port) inside this namespace")
	fs.StringVar(&c.Target.ClientID, "client-id", "bench-sub", "MQTT client id")
	fs.StringVar(&ca, "ca", "", "server root CA (PEM); empty = plain TCP")
	fs.StringVar(&cert, "cert", "", "client certificate bundle (PEM)")
	fs.StringVar(&key, "key", "", "client key (PEM)")
	fs.StringVar(&serverName, "server-name", "", "name or IP expected in the server certificate")
	fs.StringVar(&c.Topic, "topic", "output", "topic")
	fs.IntVar(&c.N, "n", 1000, "messages the publisher sends")
	fs.UintVar(&qos, "qos", 1, "QoS 0 or 1")
	fs.Uint64Var(&c.RunID, "run-id", 0, "run id to accept")
	fs.DurationVar(&c.Idle, "idle", 2*time.Second, "after the publisher is done, stop when nothing arrived for this long")
	fs.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.QoS = byte(qos)
	if ca != "" {
		t, err := loadgen.TLSFromFiles(ca, cert, key, serverName)
		if err != nil {
			emit(stdout, event{Event: "result", Error: err.Error()})
			return err
		}
		c.Target.TLS = t
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pubDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin) // returns at EOF: the parent closed our stdin
		close(pubDone)
	}()
	r, err := loadgen.Subscribe(ctx, c, func() { emit(stdout, event{Event: "ready"}) }, pubDone)
	e := event{Event: "result", Sub: &r}
	if err != nil {
		e.Error = err.Error()
	}
	emit(stdout, e)
	return err
}

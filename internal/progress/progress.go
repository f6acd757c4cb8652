package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// TTYMode says whether to draw the spinner.
type TTYMode int

const (
	TTYAuto TTYMode = iota // a spinner when the writer is a terminal
	TTYOn                  // always (tests, or a terminal the detection cannot see)
	TTYOff                 // never
)

// Options configure a Progress. The zero value is a non-quiet, non-verbose progress that
// detects the terminal.
type Options struct {
	Quiet     bool // print only failed steps and errors
	Verbosity int  // ≥ 1 prints Debugf lines
	TTY       TTYMode

	// Now and Interval exist for tests; zero means time.Now and 100ms.
	Now      func() time.Time
	Interval time.Duration
}

// Progress writes step lines to one writer (stderr: results go to stdout).
type Progress struct {
	w        io.Writer
	opts     Options
	tty      bool
	mu       sync.Mutex
	active   []*Step // running steps, in start order
	frame    int
	drawn    bool          // a spinner line is on screen and must be cleared before printing
	stop     chan struct{} // closes the spinner goroutine; nil when none runs
	finished chan struct{}
}

// Step is one unit of work started with Start.
type Step struct {
	p     *Progress
	name  string
	start time.Time
	ended bool
}

// New returns a Progress writing to w.
func New(w io.Writer, opts Options) *Progress {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	tty := false
	switch opts.TTY {
	case TTYOn:
		tty = true
	case TTYAuto:
		if f, ok := w.(*os.File); ok {
			tty = term.IsTerminal(int(f.Fd()))
		}
	}
	return &Progress{w: w, opts: opts, tty: tty}
}

// Discard is a Progress that prints nothing, for library callers that show no progress.
func Discard() *Progress { return New(io.Discard, Options{Quiet: true, TTY: TTYOff}) }

// IsTTY reports whether the spinner is drawn.
func (p *Progress) IsTTY() bool { return p.tty }

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

const clearLine = "\r\x1b[2K"

// Start begins a step. End it exactly once (further calls are ignored), typically with
// `defer func() { step.End(err) }()` or `return step.End(err)`.
func (p *Progress) Start(name string) *Step {
	s := &Step{p: p, name: name, start: p.opts.Now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active = append(p.active, s)
	switch {
	case p.opts.Quiet:
	case p.tty:
		p.redrawLocked()
		if p.stop == nil {
			p.stop, p.finished = make(chan struct{}), make(chan struct{})
			go p.spin(p.stop, p.finished)
		}
	default:
		p.lineLocked("•", name)
	}
	return s
}

// End finishes the step: ✓ when err is nil, ✗ otherwise. It returns err so a caller can write
// `return step.End(err)`. The error itself is not printed: the command prints it once.
func (s *Step) End(err error) error {
	p := s.p
	p.mu.Lock()
	if s.ended {
		p.mu.Unlock()
		return err
	}
	s.ended = true
	for i, a := range p.active {
		if a == s {
			p.active = append(p.active[:i], p.active[i+1:]...)
			break
		}
	}
	elapsed := p.opts.Now().Sub(s.start)
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	if err != nil || !p.opts.Quiet {
		p.lineLocked(mark, fmt.Sprintf("%s (%s)", s.name, formatElapsed(elapsed)))
	}
	var stop, finished chan struct{}
	if len(p.active) == 0 && p.stop != nil {
		stop, finished = p.stop, p.finished
		p.stop, p.finished = nil, nil
	}
	p.mu.Unlock()
	if stop != nil {
		// Wait for the spinner so nothing draws after the last step ended.
		close(stop)
		<-finished
	}
	return err
}

// Debugf prints a debug line when verbosity is at least 1.
func (p *Progress) Debugf(format string, args ...any) {
	if p.opts.Verbosity < 1 || p.opts.Quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineLocked("·", fmt.Sprintf(format, args...))
}

// Infof prints an informational line unless quiet.
func (p *Progress) Infof(format string, args ...any) {
	if p.opts.Quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineLocked(" ", fmt.Sprintf(format, args...))
}

// Errorf prints an error line, even when quiet.
func (p *Progress) Errorf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineLocked("✗", fmt.Sprintf(format, args...))
}

// lineLocked prints one finished line: above the spinner on a terminal, timestamped otherwise.
func (p *Progress) lineLocked(mark, text string) {
	text = strings.ReplaceAll(text, "\n", " ")
	if p.tty {
		if p.drawn {
			io.WriteString(p.w, clearLine)
			p.drawn = false
		}
		fmt.Fprintf(p.w, " %s %s\n", mark, text)
		p.redrawLocked()
		return
	}
	fmt.Fprintf(p.w, "%s  %s %s\n", p.opts.Now().UTC().Format(time.RFC3339), mark, text)
}

// redrawLocked draws the spinner line for the most recently started running step.
func (p *Progress) redrawLocked() {
	if !p.tty || p.opts.Quiet || len(p.active) == 0 {
		return
	}
	s := p.active[len(p.active)-1]
	more := ""
	if n := len(p.active) - 1; n > 0 {
		more = fmt.Sprintf(" (+%d more)", n)
	}
	fmt.Fprintf(p.w, "%s %s %s (%s)%s", clearLine, spinnerFrames[p.frame%len(spinnerFrames)], s.name,
		formatElapsed(p.opts.Now().Sub(s.start)), more)
	p.drawn = true
}

func (p *Progress) spin(stop, finished chan struct{}) {
	defer close(finished)
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			p.redrawLocked()
			p.mu.Unlock()
		}
	}
}

// formatElapsed shows short work with two decimals and long work in whole seconds/minutes.
func formatElapsed(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	default:
		return d.Truncate(time.Second).String()
	}
}

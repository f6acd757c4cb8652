package cli

import (
	"github.com/dualpeer/dualpeer/internal/progress"
)

// stepProgress adapts progress.Progress to the providers' small Progress interface.
type stepProgress struct{ p *progress.Progress }

func (s stepProgress) Start(name string) func(error) {
	st := s.p.Start(name)
	return func(err error) { _ = st.End(err) }
}

func (s stepProgress) Debugf(format string, args ...any) { s.p.Debugf(format, args...) }

// newProgress renders steps on stderr: a spinner with elapsed time on a terminal, timestamped
// lines otherwise; -q keeps only failures, -v adds debug lines.
func newProgress(app *App) stepProgress {
	return stepProgress{p: progress.New(app.ErrOut, progress.Options{Quiet: app.Quiet, Verbosity: app.Verbosity})}
}

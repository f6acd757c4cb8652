package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/dashboard"
	"github.com/dualpeer/dualpeer/internal/graph"
)

// Streams bundles the three standard streams so tests can capture them.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// App is what every verb shares: streams and global flags. No globals: it is passed in.
type App struct {
	Streams
	StateDir  string
	Quiet     bool
	Verbosity int

	// DashboardSource gives the dashboard the running deployment's live state (agents, network,
	// certificates). A field so tests can serve a fake deployment; Run sets it to
	// localDashboardSource, and nil means there is no deployment to show.
	DashboardSource func(ctx context.Context, app *App) (dashboard.Source, error)

	// GraphLiveSource gives `dualpeer graph --live` the running deployment's configuration and live
	// state. A field so tests can stand in for a deployment; Run sets it to localGraphLiveSource,
	// and nil means there is no deployment to draw.
	GraphLiveSource func(ctx context.Context, app *App) (*blueprint.Config, *graph.Live, error)
}

// ExitError carries a specific exit code (e.g. a failed connectivity test) without
// printing a second error message.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Run executes the CLI and returns the process exit code. It prints the error once.
func Run(ctx context.Context, args []string, s Streams) (code int) {
	return run(ctx, &App{
		Streams:         s,
		DashboardSource: localDashboardSource,
		GraphLiveSource: localGraphLiveSource,
	}, args)
}

// run executes the CLI for an App the caller built, so tests can give it their own sources.
func run(ctx context.Context, app *App, args []string) (code int) {
	s := app.Streams
	defer func() {
		// No panic reaches a user as a stack trace: report it as a bug with what to do.
		if r := recover(); r != nil {
			fmt.Fprintf(s.ErrOut, "Error: internal error: %v\nThis is a bug in dualpeer; please report it with the command you ran (run with -v 2 for more detail).\n", r)
			code = 70
		}
	}()
	root := NewRootCommand(app)
	root.SetArgs(NormalizeArgs(args))
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			if ee.Err != nil && ee.Err.Error() != "" {
				fmt.Fprintf(s.ErrOut, "Error: %v\n", ee.Err)
			}
			return ee.Code
		}
		fmt.Fprintf(s.ErrOut, "Error: %v\n", err)
		return 1
	}
	return 0
}

// NewRootCommand builds the whole command tree.
func NewRootCommand(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "dualpeer",
		Short: "Two isolated edge clusters, VNet peering, certificates and an MQTT link over mutual TLS",
		Long: `dualpeer stands up two isolated edge clusters in separate address spaces, joins them with
bidirectional VNet peering, generates their certificates, and makes Cluster B's MQTT traffic
reach Cluster A's broker over mutual TLS.

It runs on one Linux host in seconds (--target local, the default: network namespaces) and on
Azure for real (--target azure: VMs, K3s, Arc, Azure IoT Operations).`,
		Example: `  # Bring up both clusters on this host with the quick-start configuration (needs root)
  sudo dualpeer up

  # Check a configuration and see what would be created
  dualpeer validate -var-file dualpeer.tfvars
  dualpeer plan -var environment=dev -var resource_prefix=myorg -var location=eastus2`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&app.StateDir, "state-dir", ".dualpeer", "directory holding state, certificates, logs and the local vault")
	root.PersistentFlags().BoolVarP(&app.Quiet, "quiet", "q", false, "print only results and errors")
	root.PersistentFlags().IntVarP(&app.Verbosity, "verbose", "v", 0, "more detail on stderr (1 = steps, 2 = debug)")
	root.PersistentFlags().Lookup("verbose").NoOptDefVal = "1"

	root.AddCommand(
		newInitCmd(app),
		newValidateCmd(app),
		newPlanCmd(app),
		newVersionCmd(app),
		newCertsCmd(app),
		newAgentCmd(app),
		newUpCmd(app),
		newDownCmd(app),
		newStatusCmd(app),
		newOutputCmd(app),
		newExecCmd(app),
		newLogsCmd(app),
		newTestCmd(app),
		newGraphCmd(app),
		newDashboardCmd(app),
	)
	return root
}

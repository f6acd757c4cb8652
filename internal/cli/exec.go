package cli

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/spf13/cobra"
)

func newExecCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "exec a|b -- CMD [ARGS...]",
		Short: "Run a command inside a cluster's VM (the local counterpart of the Arc proxy command)",
		Long: `exec runs a command inside Cluster A's or Cluster B's VM network namespace, where the
cluster's broker listens on 127.0.0.1 and the peering routes to the other cluster. Everything
you send to lab addresses must go from inside the lab like this.`,
		Example: `  dualpeer exec b -- mosquitto_pub -h 127.0.0.1 -p 18884 -q 1 -t input -m hello
  dualpeer exec a -- ping -c 1 10.2.1.4
  dualpeer exec a -- bash`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := newLocalProvider(app)
			if err != nil {
				return err
			}
			argv, err := p.ExecCommand(args[0], args[1:])
			if err != nil {
				return err
			}
			c := exec.CommandContext(cmd.Context(), argv[0], argv[1:]...)
			c.Stdin, c.Stdout, c.Stderr = app.In, app.Out, app.ErrOut
			if err := c.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					// The command's own exit status, without a second message.
					return &ExitError{Code: ee.ExitCode(), Err: errors.New("")}
				}
				return fmt.Errorf("exec in Cluster %s: %w", args[0], err)
			}
			return nil
		},
	}
}

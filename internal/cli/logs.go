package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func newLogsCmd(app *App) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs a|b",
		Short: "Print a cluster agent's log (structured JSON lines)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := newLocalProvider(app)
			if err != nil {
				return err
			}
			path, err := p.LogPath(args[0])
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("open log %s: %w", path, err)
			}
			defer f.Close()
			if _, err := io.Copy(app.Out, f); err != nil {
				return err
			}
			if follow {
				return followFile(cmd.Context(), f, app.Out)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	return cmd
}

func followFile(ctx context.Context, f *os.File, w io.Writer) error {
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

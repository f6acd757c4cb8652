package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: stub, replaced by the owner of this verb.
func newUpCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:    "up",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("up: not implemented yet")
		},
	}
}

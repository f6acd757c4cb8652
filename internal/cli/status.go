package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: stub, replaced by the owner of this verb.
func newStatusCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:    "status",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("status: not implemented yet")
		},
	}
}

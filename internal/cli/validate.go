package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO: stub, replaced by the owner of this verb.
func newValidateCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:    "validate",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("validate: not implemented yet")
		},
	}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newDataCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:    "data",
		Short:  "(not yet built)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("data: not implemented yet")
		},
	}
}

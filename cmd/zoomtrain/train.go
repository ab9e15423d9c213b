package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newTrainCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:    "train",
		Short:  "(not yet built)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("train: not implemented yet")
		},
	}
}

package main

import (
	"context"
	"fmt"
	"io"
)

// runCheckConfig is being written; see the foundation issue.
func runCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "justiceconnect: not available yet")
	return 1
}

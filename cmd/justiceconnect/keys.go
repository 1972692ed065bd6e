package main

import (
	"context"
	"fmt"
	"io"
)

// runKeys is being written; see the foundation issue.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "justiceconnect: not available yet")
	return 1
}

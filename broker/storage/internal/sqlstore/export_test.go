package sqlstore

import "time"

// SetDeletePauseHook makes DeleteExpired call f with each pause it makes between
// batches, until restore is called.
func SetDeletePauseHook(f func(time.Duration)) (restore func()) {
	old := deletePaused
	deletePaused = f
	return func() { deletePaused = old }
}

// DeleteBatchMin is the smallest cleanup batch, the first one's size.
const DeleteBatchMin = deleteBatchMin

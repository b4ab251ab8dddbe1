package nfstream

// Sharded makes s run the sharded pipeline even with one meter, to tell
// the effects of sharding (early nDPI finalisation) from those of several
// nDPI engines.
func Sharded(s *Streamer) { s.sharded = true }

// SyncDPI makes a single meter call nDPI on its own goroutine, and AsyncDPI
// on a goroutine of nDPI's own (flow.Config.AsyncDPI) whatever GOMAXPROCS.
func SyncDPI(s *Streamer) { s.dpiMode = 1 }

// AsyncDPI: see SyncDPI.
func AsyncDPI(s *Streamer) { s.dpiMode = 2 }

package nfstream

// Sharded makes s run the sharded pipeline even with one meter, to tell
// the effects of sharding (early nDPI finalisation) from those of several
// nDPI engines.
func Sharded(s *Streamer) { s.sharded = true }

package cluster

// SetHook makes e call fn at points of a move: "fenced" (the source's fence just held)
// and "switched" (placement switched, the source not dropped yet). An error from fn stops
// the run there; the fence then ends without Drop, as when the process is killed.
func SetHook(e *Engine, fn func(point string) error) { e.hook = fn }

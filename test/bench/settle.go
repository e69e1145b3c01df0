package main

import (
	"fmt"
	"time"
)

// settle waits until the server with pid is idle, so one workload's aftermath is not
// measured as part of the next: after the SMTP runs, the background text indexer works
// through the bodies just delivered (store.IndexQueue), and the IMAP mix run meanwhile
// would measure the two together. Idle is under 5% of one CPU in each of three seconds in
// a row (the indexer pauses between its jobs); it waits at most limit and prints how long
// the node stayed busy and the CPU it used meanwhile.
func settle(pid int, what string, limit time.Duration) {
	start, cpu0 := time.Now(), procCPU(pid)
	last, quiet := cpu0, 0
	for time.Since(start) < limit {
		time.Sleep(time.Second)
		now := procCPU(pid)
		busy := now - last
		last = now
		if quiet++; busy >= 50*time.Millisecond {
			quiet = 0
		}
		if quiet == 3 {
			fmt.Printf("%s: node settled after %.1fs (%.1fs of server CPU meanwhile)\n",
				what, time.Since(start).Seconds(), (now - cpu0).Seconds())
			return
		}
	}
	fmt.Printf("%s: node still busy after %.0fs (%.1fs of server CPU meanwhile); measuring anyway\n",
		what, limit.Seconds(), (last - cpu0).Seconds())
}

package main

// The user move's timeline: the mover runs without --json, so it prints a progress line
// at every journal update (phase changes and the end of each copy round); each line is
// stamped with the time since the process started. The first stamp bounds the command's
// start-up (config, directory and shard connections), the last its shutdown; the move's
// own time lies between. The figures (rounds, messages, fence) come from the journal
// afterwards (`migration list --json`).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// stamp is one progress line and when it arrived.
type stamp struct {
	at   time.Duration
	line string
}

// moveRun is what runMover measured.
type moveRun struct {
	stamps []stamp
	wall   time.Duration // the whole command, start to exit
	cpu    time.Duration // the mover process's CPU, user + system
	out    string        // everything it printed, for errors
}

// runMover runs `mailgrid user move` and stamps its progress lines.
func runMover(bin, cfg, user, target string) (moveRun, error) {
	var r moveRun
	cmd := exec.Command(bin, "--config", cfg, "user", "move", user, "--to", target)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	var all strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		if strings.HasPrefix(line, "migration ") {
			r.stamps = append(r.stamps, stamp{at: time.Since(start), line: line})
		}
	}
	scanErr := sc.Err()
	err = cmd.Wait()
	r.wall = time.Since(start)
	r.out = all.String() + stderr.String()
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return r, fmt.Errorf("user move: %v: %s", err, r.out)
	}
	if scanErr != nil {
		return r, fmt.Errorf("user move output: %w", scanErr)
	}
	if len(r.stamps) < 2 {
		return r, fmt.Errorf("user move printed no progress: %s", r.out)
	}
	return r, nil
}

// moveFigures are the journal's record of the move.
type moveFigures struct {
	Messages int64  `json:"messages"`
	Rounds   int    `json:"rounds"`
	FenceMS  int64  `json:"fence_ms"`
	State    string `json:"state"`
}

// journalFigures reads the account's migration from `migration list --json`.
func journalFigures(bin, cfg, user string) (moveFigures, error) {
	out, err := exec.Command(bin, "--config", cfg, "--json", "migration", "list").Output()
	if err != nil {
		return moveFigures{}, fmt.Errorf("migration list: %v: %s", err, out)
	}
	var ms []struct {
		Account string `json:"account"`
		moveFigures
	}
	if err := json.Unmarshal(out, &ms); err != nil {
		return moveFigures{}, fmt.Errorf("migration list output: %v: %s", err, out)
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Account == user {
			return ms[i].moveFigures, nil
		}
	}
	return moveFigures{}, fmt.Errorf("migration list: no migration of %s: %s", user, out)
}

// printTimeline prints the stamps and the move's own time (first to last stamp).
func (r moveRun) printTimeline() {
	fmt.Printf("  timeline (since the command started; each line is a journal update):\n")
	for _, s := range r.stamps {
		line := s.line
		if i := strings.Index(line, " -> "); i >= 0 {
			if j := strings.Index(line[i:], ": "); j >= 0 {
				line = line[i+j+2:]
			}
		}
		fmt.Printf("    +%6.3f s  %s\n", s.at.Seconds(), line)
	}
	first, last := r.stamps[0].at, r.stamps[len(r.stamps)-1].at
	fmt.Printf("    +%6.3f s  exit\n", r.wall.Seconds())
	fmt.Printf("  start-up (to the first journal update) %.3f s; the move itself %.3f s; shutdown %.3f s\n",
		first.Seconds(), (last - first).Seconds(), (r.wall - last).Seconds())
}

// moveTime is the move's own time: first journal update to last.
func (r moveRun) moveTime() time.Duration { return r.stamps[len(r.stamps)-1].at - r.stamps[0].at }

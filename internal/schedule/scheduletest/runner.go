package scheduletest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/schedule"
)

// sends counts what a Sender was asked to send, by subject.
type sends struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *sends) sender(fail func(schedule.Item) error) schedule.Sender {
	return func(_ context.Context, it schedule.Item) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.n == nil {
			s.n = map[string]int{}
		}
		s.n[it.Subject]++
		if fail != nil {
			return fail(it)
		}
		return nil
	}
}

func (s *sends) count(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[subject]
}

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// testRunnerOnce: two runners (two nodes) over one database, each looping, send each due
// item exactly once; Run sends an item that falls due while it runs.
func testRunnerOnce(t *testing.T, open Open) {
	a, b := opened(t, open), opened(t, open)
	const n = 30
	for i := range n {
		add(t, a, item(ann, t0, string(rune('A'+i))))
	}
	var got sends
	var wg sync.WaitGroup
	for _, s := range []schedule.Store{a, b} {
		r := schedule.NewRunner(s, got.sender(nil), schedule.RunnerOptions{Batch: 4, Now: fixed(t0)})
		wg.Go(func() {
			for range n {
				k, err := r.RunOnce(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		if c := got.count(string(rune('A' + i))); c != 1 {
			t.Fatalf("item %c sent %d times, want once", 'A'+i, c)
		}
	}
	if left, err := a.List(t.Context(), ann); err != nil || len(left) != 0 {
		t.Fatalf("left after sending: %q %v", subjects(left), err)
	}

	// Run on the real clock: an item due now is sent within a bounded wait.
	var live sends
	r := schedule.NewRunner(b, live.sender(nil), schedule.RunnerOptions{Poll: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	add(t, a, item(ann, time.Now(), "live"))
	r.Kick()
	for i := 0; i < 500 && live.count("live") == 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if live.count("live") != 1 {
		t.Fatalf("Run sent the due item %d times, want once", live.count("live"))
	}
}

// testRunnerOutcomes: sent items go, permanent refusals fail, temporary ones come back
// after the backoff, and give up after GiveUp.
func testRunnerOutcomes(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	add(t, s, item(ann, t0, "ok"))
	add(t, s, item(ann, t0, "perm"))
	add(t, s, item(ann, t0, "temp"))
	old := item(ann, t0, "old")
	old.Created = t0.Add(-25 * time.Hour)
	add(t, s, old)
	var got sends
	send := got.sender(func(it schedule.Item) error {
		switch it.Subject {
		case "perm":
			return schedule.Permanent(errors.New("550 5.1.1 no such user"))
		case "temp", "old":
			return errors.New("451 4.7.1 rate limit")
		}
		return nil
	})
	r := schedule.NewRunner(s, send, schedule.RunnerOptions{Now: fixed(t0), Backoff: []time.Duration{2 * time.Minute}})
	if n, err := r.RunOnce(ctx); err != nil || n != 4 {
		t.Fatalf("RunOnce: %d %v, want 4 leased", n, err)
	}
	list, err := s.List(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]schedule.Item{}
	for _, it := range list {
		state[it.Subject] = it
	}
	if _, ok := state["ok"]; ok || len(state) != 3 {
		t.Fatalf("after one run: %q, want perm, temp, old", subjects(list))
	}
	if p := state["perm"]; p.State != schedule.Failed || p.LastError != "550 5.1.1 no such user" {
		t.Fatalf("permanent refusal: %+v", p)
	}
	if tm := state["temp"]; tm.State != schedule.Pending || !tm.Due.Equal(t0.Add(2*time.Minute)) || tm.LastError != "451 4.7.1 rate limit" {
		t.Fatalf("temporary failure: %+v", tm)
	}
	if o := state["old"]; o.State != schedule.Failed {
		t.Fatalf("temporary failure past GiveUp: %+v, want failed", o)
	}
	r2 := schedule.NewRunner(s, send, schedule.RunnerOptions{Now: fixed(t0.Add(2 * time.Minute))})
	if n, err := r2.RunOnce(ctx); err != nil || n != 1 || got.count("temp") != 2 {
		t.Fatalf("at the retry time: leased %d (%v), temp sent %d times; want 1 and 2", n, err, got.count("temp"))
	}
}

// testRunnerNodeDied: a node that leased an item and died (no Done) holds it until the
// lease runs out; then another node sends it, once.
func testRunnerNodeDied(t *testing.T, open Open) {
	dead, live := opened(t, open), opened(t, open)
	add(t, dead, item(ann, t0, "orphan"))
	if l, err := dead.Lease(t.Context(), t0, 5*time.Minute, 10); err != nil || len(l) != 1 {
		t.Fatalf("the dying node's lease: %d %v", len(l), err)
	}
	var got sends
	early := schedule.NewRunner(live, got.sender(nil), schedule.RunnerOptions{Now: fixed(t0.Add(time.Minute))})
	if n, err := early.RunOnce(t.Context()); err != nil || n != 0 {
		t.Fatalf("while the dead node's lease holds: leased %d %v", n, err)
	}
	later := schedule.NewRunner(live, got.sender(nil), schedule.RunnerOptions{Now: fixed(t0.Add(5*time.Minute + time.Second))})
	for range 3 {
		if _, err := later.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got.count("orphan") != 1 {
		t.Fatalf("the orphaned item was sent %d times, want once", got.count("orphan"))
	}
	if left, err := live.List(t.Context(), ann); err != nil || len(left) != 0 {
		t.Fatalf("left: %q %v", subjects(left), err)
	}
}

// testRunnerMidSend: a node stops answering in the middle of a send (its Sender never
// returns within the lease, as a node killed mid-send); once the lease runs out another
// node sends the item and removes it, and the first node's late outcome changes nothing.
func testRunnerMidSend(t *testing.T, open Open) {
	a, b := opened(t, open), opened(t, open)
	add(t, a, item(ann, t0, "stuck"))
	inSend, release := make(chan struct{}), make(chan struct{})
	hung := func(ctx context.Context, _ schedule.Item) error {
		close(inSend)
		<-release
		return errors.New("451 connection lost")
	}
	ra := schedule.NewRunner(a, hung, schedule.RunnerOptions{Now: fixed(t0), LeaseFor: time.Minute, SendTimeout: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := ra.RunOnce(context.Background())
		done <- err
	}()
	<-inSend
	var got sends
	rb := schedule.NewRunner(b, got.sender(nil), schedule.RunnerOptions{Now: fixed(t0.Add(2 * time.Minute))})
	if n, err := rb.RunOnce(t.Context()); err != nil || n != 1 || got.count("stuck") != 1 {
		t.Fatalf("second node after the lease ran out: leased %d (%v), sent %d; want 1 and 1", n, err, got.count("stuck"))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if left, err := a.List(t.Context(), ann); err != nil || len(left) != 0 {
		t.Fatalf("the first node's late outcome brought the item back: %q %v", subjects(left), err)
	}
}

// testRunnerLateInBatch: an item whose turn in a batch comes after its lease could run
// out (slow sends before it) is handed back unsent, not sent late.
func testRunnerLateInBatch(t *testing.T, open Open) {
	s := opened(t, open)
	add(t, s, item(ann, t0, "slow"))
	add(t, s, item(ann, t0.Add(time.Second), "late"))
	now := t0.Add(time.Second)
	var got sends
	slow := got.sender(func(it schedule.Item) error {
		if it.Subject == "slow" {
			now = now.Add(4 * time.Minute) // the first send takes most of the lease
		}
		return nil
	})
	r := schedule.NewRunner(s, slow, schedule.RunnerOptions{Now: func() time.Time { return now }, LeaseFor: 5 * time.Minute})
	if n, err := r.RunOnce(t.Context()); err != nil || n != 2 {
		t.Fatalf("RunOnce: %d %v", n, err)
	}
	if got.count("slow") != 1 || got.count("late") != 0 {
		t.Fatalf("sent slow %d, late %d times; want 1 and 0", got.count("slow"), got.count("late"))
	}
	if n, err := r.RunOnce(t.Context()); err != nil || n != 1 || got.count("late") != 1 {
		t.Fatalf("next pass: leased %d (%v), late sent %d times; want 1 and 1", n, err, got.count("late"))
	}
}

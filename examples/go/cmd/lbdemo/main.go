// Command lbdemo runs simulated requests through lb from several goroutines:
// three backends, one of them slow and one that fails now and then, with a retry
// on another backend after a failure. It prints the totals and each backend's
// health, then sends one session's requests through Maglev (keyed selection),
// and exits non-zero if the totals do not add up or the session moves.
package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/lb-project/lb/examples/go/lb"
)

// serve stands in for a backend: its latency, and whether it served.
func serve(id uint64, n int) (time.Duration, bool) {
	switch id {
	case 1:
		return 300 * time.Microsecond, true
	case 2:
		return 2 * time.Millisecond, true
	default:
		return 400 * time.Microsecond, n%5 != 0
	}
}

func run() error {
	b, err := lb.New(lb.Adaptive)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}, {ID: 3, Weight: 2, Capacity: 64}}); err != nil {
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				pick, err := b.Select()
				if errors.Is(err, lb.ErrNoInstance) {
					continue
				} else if err != nil {
					errs <- err
					return
				}
				latency, ok := serve(pick.InstanceID(), n+g)
				if ok {
					err = b.Report(pick, lb.Success, latency)
				} else {
					err = b.Report(pick, lb.Failure, latency)
					if err == nil {
						// Retry once, elsewhere if possible.
						var retry lb.Pick
						retry, err = b.SelectExcluding([]uint64{pick.InstanceID()})
						if err == nil {
							latency, _ = serve(retry.InstanceID(), 1)
							err = b.Report(retry, lb.Success, latency)
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}

	stats, err := b.Stats()
	if err != nil {
		return err
	}
	fmt.Printf("lb %s (%s now): %d requests, %d served, %d failed, mean latency %v\n",
		lb.Version(), stats.ActiveStrategy, stats.TotalRequests, stats.Successes, stats.Failures, stats.AvgLatency)
	all, err := b.AllHealth()
	if err != nil {
		return err
	}
	for _, h := range all {
		fmt.Printf("  backend %d: %d requests, success rate %.2f, latency %v, healthy %v\n",
			h.InstanceID, h.Requests, h.SuccessRate, h.LatencyEWMA.Round(time.Microsecond), h.Healthy)
	}
	if stats.InFlight != 0 || stats.TotalRequests != stats.Successes+stats.Failures+stats.Cancelled {
		return fmt.Errorf("totals do not add up: %+v", stats)
	}
	return sticky()
}

// sticky shows keyed selection: under Maglev a session's requests stay on one
// backend.
func sticky() error {
	b, err := lb.New(lb.Maglev)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}, {ID: 3, Weight: 2}}); err != nil {
		return err
	}
	key := lb.HashBytes([]byte("session-7f3a9c"))
	var home uint64
	for n := 0; n < 5; n++ {
		pick, err := b.SelectKey(key)
		if err != nil {
			return err
		}
		if n == 0 {
			home = pick.InstanceID()
		} else if pick.InstanceID() != home {
			return fmt.Errorf("session-7f3a9c moved from backend %d to %d", home, pick.InstanceID())
		}
		if err := b.Report(pick, lb.Success, 300*time.Microsecond); err != nil {
			return err
		}
	}
	fmt.Printf("  %v: session-7f3a9c -> backend %d, every time\n", lb.Maglev, home)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lbdemo:", err)
		os.Exit(1)
	}
}

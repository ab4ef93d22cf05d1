package lb_test

import (
	"bufio"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lb-project/lb/examples/go/lb"
)

func newBalancer(t *testing.T, strategy lb.Strategy, ids ...uint64) *lb.Balancer {
	t.Helper()
	b, err := lb.New(strategy)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	set := make([]lb.Instance, len(ids))
	for i, id := range ids {
		set[i] = lb.Instance{ID: id, Weight: 1}
	}
	if err := b.SetInstances(set); err != nil {
		t.Fatalf("SetInstances: %v", err)
	}
	return b
}

func settled(t *testing.T, b *lb.Balancer) lb.Stats {
	t.Helper()
	s, err := b.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if s.InFlight != 0 || s.TotalRequests != s.Successes+s.Failures+s.Cancelled {
		t.Fatalf("totals do not add up: %+v", s)
	}
	return s
}

func TestVersion(t *testing.T) {
	if v := lb.Version(); v == "" || v[0] < '1' || v[0] > '9' {
		t.Fatalf("Version() = %q", v)
	}
}

func TestNewUnknownStrategy(t *testing.T) {
	b, err := lb.New(lb.Strategy(9))
	if b != nil || !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("New(9) = %v, %v; want ErrInvalidArgument", b, err)
	}
	var lbErr *lb.Error
	if !errors.As(err, &lbErr) || lbErr.Op != "New" || lbErr.Status != lb.StatusInvalidArgument {
		t.Fatalf("error %#v does not name New and the status", err)
	}
}

func TestSelectAndReport(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2, 3)
	seen := map[uint64]int{}
	for i := 0; i < 30; i++ {
		p, err := b.Select()
		if err != nil {
			t.Fatalf("Select: %v", err)
		}
		seen[p.InstanceID()]++
		if err := b.Report(p, lb.Success, 200*time.Microsecond); err != nil {
			t.Fatalf("Report: %v", err)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("round robin over 3 instances picked %v", seen)
	}
	s := settled(t, b)
	if s.TotalRequests != 30 || s.Successes != 30 || s.AvgLatency != 200*time.Microsecond {
		t.Fatalf("stats %+v", s)
	}
}

func TestEmptySet(t *testing.T) {
	b := newBalancer(t, lb.LeastConnections)
	if _, err := b.Select(); !errors.Is(err, lb.ErrNoInstance) {
		t.Fatalf("Select on empty set: %v", err)
	}
	if _, err := b.SelectExcluding([]uint64{1}); !errors.Is(err, lb.ErrNoInstance) {
		t.Fatalf("SelectExcluding on empty set: %v", err)
	}
}

func TestSetInstancesErrors(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2)
	if err := b.SetInstances([]lb.Instance{{ID: 7, Weight: 1}, {ID: 7, Weight: 1}}); !errors.Is(err, lb.ErrDuplicateInstance) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := b.SetInstances([]lb.Instance{{ID: 7, Weight: 0}}); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("zero weight: %v", err)
	}
	all, err := b.AllHealth()
	if err != nil || len(all) != 2 || all[0].InstanceID != 1 || all[1].InstanceID != 2 {
		t.Fatalf("set changed by refused calls: %+v, %v", all, err)
	}
	if err := b.SetInstances(nil); err != nil {
		t.Fatalf("empty set: %v", err)
	}
	if all, err := b.AllHealth(); err != nil || len(all) != 0 {
		t.Fatalf("AllHealth after emptying: %+v, %v", all, err)
	}
}

func TestSelectExcluding(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2, 3)
	for i := 0; i < 20; i++ {
		p, err := b.SelectExcluding([]uint64{1, 3})
		if err != nil || p.InstanceID() != 2 {
			t.Fatalf("SelectExcluding(1, 3) = %d, %v", p.InstanceID(), err)
		}
		if err := b.Report(p, lb.Cancelled, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Everything excluded: selects anyway.
	p, err := b.SelectExcluding([]uint64{1, 2, 3})
	if err != nil {
		t.Fatalf("SelectExcluding(all): %v", err)
	}
	if err := b.Report(p, lb.Cancelled, 0); err != nil {
		t.Fatal(err)
	}
	settled(t, b)
}

func TestHealthScores(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2)
	if err := b.SetHealthScore(1, 0.25); err != nil {
		t.Fatalf("SetHealthScore: %v", err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 1.5} {
		if err := b.SetHealthScore(1, bad); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Fatalf("SetHealthScore(%v): %v", bad, err)
		}
	}
	if err := b.SetHealthScore(42, 1); !errors.Is(err, lb.ErrUnknownInstance) {
		t.Fatalf("unknown instance: %v", err)
	}
	if _, err := b.Health(42); !errors.Is(err, lb.ErrUnknownInstance) {
		t.Fatalf("Health(42): %v", err)
	}
	h, err := b.Health(2)
	if err != nil || h.InstanceID != 2 || h.Weight != 1 || h.SuccessRate != 1 {
		t.Fatalf("Health(2) = %+v, %v", h, err)
	}
}

func TestOptions(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1)
	if v, err := b.Option(lb.OptionPickTimeoutMS); err != nil || v != 300000 {
		t.Fatalf("pick timeout default = %v, %v", v, err)
	}
	if err := b.SetOption(lb.OptionPanicThreshold, 0.2); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Option(lb.OptionPanicThreshold); v != 0.2 {
		t.Fatalf("panic threshold = %v", v)
	}
	for _, c := range []struct {
		o lb.Option
		v float64
	}{{lb.OptionPanicThreshold, 2}, {lb.OptionPanicThreshold, math.NaN()}, {lb.OptionPickTimeoutMS, -1}, {lb.OptionPickTimeoutMS, 1.5}, {lb.Option(0), 1}} {
		if err := b.SetOption(c.o, c.v); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Fatalf("SetOption(%d, %v): %v", c.o, c.v, err)
		}
	}
	if _, err := b.Option(lb.Option(999)); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("Option(999): %v", err)
	}
}

func TestSlowStartOptions(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1)
	for _, c := range []struct {
		o lb.Option
		v float64
	}{{lb.OptionSlowStartWindowMS, 30000}, {lb.OptionSlowStartAggression, 1}, {lb.OptionSlowStartMinWeightPercent, 10}} {
		if v, err := b.Option(c.o); err != nil || v != c.v {
			t.Fatalf("default of %d = %v, %v; want %v", c.o, v, err, c.v)
		}
	}
	if err := b.SetOption(lb.OptionSlowStartWindowMS, 5000); err != nil {
		t.Fatal(err)
	}
	// Below and above the range, NaN, infinity, and a fraction for the window.
	for _, c := range []struct {
		o lb.Option
		v float64
	}{
		{lb.OptionSlowStartWindowMS, -1}, {lb.OptionSlowStartWindowMS, 3600001}, {lb.OptionSlowStartWindowMS, math.NaN()},
		{lb.OptionSlowStartWindowMS, math.Inf(1)}, {lb.OptionSlowStartWindowMS, 2.5},
		{lb.OptionSlowStartAggression, 0}, {lb.OptionSlowStartAggression, 100.5}, {lb.OptionSlowStartAggression, math.NaN()},
		{lb.OptionSlowStartAggression, math.Inf(1)},
		{lb.OptionSlowStartMinWeightPercent, -1}, {lb.OptionSlowStartMinWeightPercent, 101},
		{lb.OptionSlowStartMinWeightPercent, math.NaN()}, {lb.OptionSlowStartMinWeightPercent, math.Inf(-1)},
	} {
		if err := b.SetOption(c.o, c.v); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Fatalf("SetOption(%d, %v): %v", c.o, c.v, err)
		}
	}
	if v, _ := b.Option(lb.OptionSlowStartWindowMS); v != 5000 {
		t.Fatalf("window after refusals = %v", v)
	}
}

func TestInvalidPicks(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2)
	other := newBalancer(t, lb.RoundRobin, 1, 2)
	if err := b.Report(lb.Pick{}, lb.Success, 0); !errors.Is(err, lb.ErrInvalidPick) {
		t.Fatalf("zero pick: %v", err)
	}
	foreign, err := other.Select()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Report(foreign, lb.Success, 0); !errors.Is(err, lb.ErrInvalidPick) {
		t.Fatalf("foreign pick: %v", err)
	}
	if err := other.Report(foreign, lb.Success, 0); err != nil {
		t.Fatalf("own pick: %v", err)
	}
	if err := b.Report(foreign, lb.Outcome(7), 0); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("unknown outcome: %v", err)
	}
	if s := settled(t, b); s.TotalRequests != 0 {
		t.Fatalf("refused reports changed the stats: %+v", s)
	}
}

func TestStrategySwitch(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2)
	if err := b.SetStrategy(lb.WeightedResponseTime); err != nil {
		t.Fatal(err)
	}
	if s, _ := b.Stats(); s.ActiveStrategy != lb.WeightedResponseTime {
		t.Fatalf("active strategy %v", s.ActiveStrategy)
	}
	// 6 became Maglev in 1.3: the first value past the last strategy.
	if err := b.SetStrategy(lb.RingHash + 1); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("unknown strategy: %v", err)
	}
}

// The power-of-choices strategies: they run, and least request keeps two
// instances' picks in flight level.
func TestLeastRequestAndPeakEwma(t *testing.T) {
	for _, s := range []lb.Strategy{lb.LeastRequest, lb.PeakEwma} {
		b := newBalancer(t, s, 1, 2)
		if st, _ := b.Stats(); st.ActiveStrategy != s {
			t.Fatalf("%v: active strategy %v", s, st.ActiveStrategy)
		}
		var held []lb.Pick
		on := map[uint64]int{}
		for i := 0; i < 20; i++ {
			p, err := b.Select()
			if err != nil {
				t.Fatalf("%v: %v", s, err)
			}
			held = append(held, p)
			on[p.InstanceID()]++
		}
		if s == lb.LeastRequest && (on[1] != 10 || on[2] != 10) {
			t.Fatalf("least request: in flight %v, want 10 and 10", on)
		}
		for _, p := range held {
			if err := b.Report(p, lb.Success, time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		settled(t, b)
	}
	if lb.LeastRequest.String() != "least_request" || lb.PeakEwma.String() != "peak_ewma" {
		t.Fatalf("names %v %v", lb.LeastRequest, lb.PeakEwma)
	}
}

// Every option added in 1.2: its default, an accepted value, and each class of
// invalid value refused with nothing changed.
func TestPowerOfChoicesOptions(t *testing.T) {
	b := newBalancer(t, lb.LeastRequest, 1, 2)
	for _, c := range []struct {
		o            lb.Option
		def, ok      float64
		below, above float64
		whole        bool
	}{
		{lb.OptionChoiceCount, 2, 5, 1, 9, true},
		{lb.OptionActiveRequestBias, 1, 0.5, -0.1, 10.5, false},
		{lb.OptionPeakEwmaTauMS, 10000, 2500, 0.5, 3600001, false},
		{lb.OptionPeakEwmaDefaultLatencyMS, 30, 5, 0.0005, 3600001, false},
	} {
		if v, err := b.Option(c.o); err != nil || v != c.def {
			t.Fatalf("option %d default = %v, %v; want %v", c.o, v, err, c.def)
		}
		bad := []float64{c.below, c.above, math.NaN(), math.Inf(1), math.Inf(-1)}
		if c.whole {
			bad = append(bad, c.def+0.5)
		}
		for _, v := range bad {
			if err := b.SetOption(c.o, v); !errors.Is(err, lb.ErrInvalidArgument) {
				t.Fatalf("SetOption(%d, %v): %v", c.o, v, err)
			}
			if got, _ := b.Option(c.o); got != c.def {
				t.Fatalf("refused SetOption(%d, %v) changed it to %v", c.o, v, got)
			}
		}
		if err := b.SetOption(c.o, c.ok); err != nil {
			t.Fatalf("SetOption(%d, %v): %v", c.o, c.ok, err)
		}
		if got, _ := b.Option(c.o); got != c.ok {
			t.Fatalf("option %d = %v after setting %v", c.o, got, c.ok)
		}
	}
	if _, err := b.Select(); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	b, err := lb.New(lb.RoundRobin)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Select(); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("Select after Close: %v", err)
	}
	if err := b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}}); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("SetInstances after Close: %v", err)
	}
	if _, err := b.Stats(); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("Stats after Close: %v", err)
	}
	if _, err := b.AllHealth(); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("AllHealth after Close: %v", err)
	}
}

// Many goroutines select and report while others change the set, the health
// scores and the strategy; at the end every pick is reported and the totals
// must match what the goroutines did.
func TestConcurrentUse(t *testing.T) {
	b := newBalancer(t, lb.LeastConnections, 1, 2, 3, 4)
	const workers, ops = 8, 3000
	var picked, succeeded, failed, cancelled atomic.Uint64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < ops; i++ {
				p, err := b.Select()
				if errors.Is(err, lb.ErrNoInstance) {
					continue
				}
				if err != nil {
					t.Errorf("Select: %v", err)
					return
				}
				picked.Add(1)
				outcome := lb.Outcome((i + w) % 3)
				if err := b.Report(p, outcome, time.Duration(i%500)*time.Microsecond); err != nil {
					t.Errorf("Report: %v", err)
					return
				}
				switch outcome {
				case lb.Success:
					succeeded.Add(1)
				case lb.Failure:
					failed.Add(1)
				default:
					cancelled.Add(1)
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(1)
	go func() {
		defer churn.Done()
		sets := [][]lb.Instance{
			{{ID: 1, Weight: 1}, {ID: 2, Weight: 2}, {ID: 3, Weight: 1}, {ID: 4, Weight: 1}},
			{{ID: 2, Weight: 1}, {ID: 5, Weight: 3, Capacity: 4}},
			{{ID: 1, Weight: 1}, {ID: 5, Weight: 1}},
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.SetInstances(sets[i%len(sets)]); err != nil {
				t.Errorf("SetInstances: %v", err)
			}
			if err := b.SetHealthScore(uint64(1+i%5), float64(i%10)/9); err != nil && !errors.Is(err, lb.ErrUnknownInstance) {
				t.Errorf("SetHealthScore: %v", err)
			}
			if i%25 == 0 {
				if err := b.SetStrategy(lb.Strategy(i / 25 % 4)); err != nil {
					t.Errorf("SetStrategy: %v", err)
				}
			}
			if _, err := b.AllHealth(); err != nil {
				t.Errorf("AllHealth: %v", err)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	wg.Wait()
	close(stop)
	churn.Wait()

	s := settled(t, b)
	if s.TotalRequests != picked.Load() || s.Successes != succeeded.Load() ||
		s.Failures != failed.Load() || s.Cancelled != cancelled.Load() {
		t.Fatalf("stats %+v; goroutines picked %d: %d/%d/%d", s, picked.Load(),
			succeeded.Load(), failed.Load(), cancelled.Load())
	}
	all, err := b.AllHealth()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range all {
		if h.InFlight != 0 {
			t.Fatalf("instance %d has %d in flight", h.InstanceID, h.InFlight)
		}
	}
}

// Close while other goroutines are calling: every call either works or returns
// ErrClosed, and nothing crashes.
func TestCloseWhileInUse(t *testing.T) {
	b, err := lb.New(lb.RoundRobin)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var closedSeen atomic.Int64
	start := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < 5000; i++ {
				p, err := b.Select()
				if errors.Is(err, lb.ErrClosed) {
					closedSeen.Add(1)
					return
				}
				if err != nil {
					t.Errorf("Select: %v", err)
					return
				}
				if err := b.Report(p, lb.Success, time.Microsecond); err != nil && !errors.Is(err, lb.ErrClosed) {
					t.Errorf("Report: %v", err)
					return
				}
				if _, err := b.Stats(); err != nil && !errors.Is(err, lb.ErrClosed) {
					t.Errorf("Stats: %v", err)
					return
				}
			}
		}()
	}
	close(start)
	time.Sleep(2 * time.Millisecond)
	closeErrs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { closeErrs <- b.Close() }()
	}
	ok := 0
	for i := 0; i < 3; i++ {
		if err := <-closeErrs; err == nil {
			ok++
		} else if !errors.Is(err, lb.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 3 concurrent Close calls succeeded, want exactly 1", ok)
	}
	if _, err := b.Select(); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("Select after Close: %v", err)
	}
	t.Logf("%d goroutines stopped on ErrClosed", closedSeen.Load())
}

func ExampleBalancer() {
	b, err := lb.New(lb.LeastConnections)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	_ = b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}, {ID: 2, Weight: 2}})
	pick, err := b.Select()
	if err != nil {
		panic(err)
	}
	// ... send the request to pick.InstanceID(), then:
	_ = b.Report(pick, lb.Success, 850*time.Microsecond)
}

func TestSeeds(t *testing.T) {
	a, err := lb.New(lb.WeightedResponseTime)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lb.New(lb.WeightedResponseTime)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sa, err := a.Seed()
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := b.Seed()
	if sa == sb {
		t.Fatalf("two balancers drew the same seed %d", sa)
	}
	c, err := lb.NewSeeded(lb.RoundRobin, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc, err := c.Seed(); err != nil || sc != 0 {
		t.Fatalf("NewSeeded(0).Seed() = %d, %v", sc, err)
	}
	if _, err := lb.NewSeeded(lb.Strategy(99), 1); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("NewSeeded with an unknown strategy: %v", err)
	}
}

// Keyed selection (1.3): Maglev and ring hash map keys to instances, and
// HashBytes matches the shared test vector.

var keyedStrategies = []lb.Strategy{lb.Maglev, lb.RingHash}

// keyedID is the instance key goes to; the pick is reported so nothing stays
// in flight.
func keyedID(t *testing.T, b *lb.Balancer, key uint64) uint64 {
	t.Helper()
	p, err := b.SelectKey(key)
	if err != nil {
		t.Fatalf("SelectKey(%d): %v", key, err)
	}
	if err := b.Report(p, lb.Success, time.Microsecond); err != nil {
		t.Fatalf("Report: %v", err)
	}
	return p.InstanceID()
}

func TestKeyedStrategies(t *testing.T) {
	if lb.Maglev != 6 || lb.RingHash != 7 {
		t.Fatalf("Maglev = %d, RingHash = %d; lb.h says 6 and 7", lb.Maglev, lb.RingHash)
	}
	if lb.Maglev.String() != "maglev" || lb.RingHash.String() != "ring_hash" || (lb.RingHash+1).String() != "Strategy(8)" {
		t.Fatalf("names %v %v %v", lb.Maglev, lb.RingHash, lb.RingHash+1)
	}
	for _, s := range keyedStrategies {
		b, err := lb.NewSeeded(s, 7)
		if err != nil {
			t.Fatalf("NewSeeded(%v): %v", s, err)
		}
		if st, _ := b.Stats(); st.ActiveStrategy != s {
			t.Fatalf("%v: active strategy %v", s, st.ActiveStrategy)
		}
		_ = b.Close()
	}
	b := newBalancer(t, lb.RoundRobin, 1)
	if err := b.SetStrategy(lb.RingHash); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.New(lb.RingHash + 1); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("New(8): %v", err)
	}
}

func TestSelectKeySameInstance(t *testing.T) {
	for _, s := range keyedStrategies {
		a := newBalancer(t, s, 1, 2, 3)
		// Another balancer (another seed) with the same set maps keys alike: the
		// mapping depends only on ids, weights and table options.
		other := newBalancer(t, s, 1, 2, 3)
		used := map[uint64]bool{}
		for key := uint64(0); key < 300; key++ {
			id := keyedID(t, a, key)
			used[id] = true
			if again := keyedID(t, a, key); again != id {
				t.Fatalf("%v: key %d went to %d, then %d", s, key, id, again)
			}
			if there := keyedID(t, other, key); there != id {
				t.Fatalf("%v: key %d went to %d here, %d on another balancer", s, key, id, there)
			}
		}
		if len(used) != 3 {
			t.Fatalf("%v: 300 keys reached only %v", s, used)
		}
		settled(t, a)
		settled(t, other)
	}
}

func TestSelectKeyExcluding(t *testing.T) {
	for _, s := range keyedStrategies {
		b := newBalancer(t, s, 1, 2, 3)
		for key := uint64(0); key < 50; key++ {
			home := keyedID(t, b, key)
			var next uint64
			for i := 0; i < 4; i++ {
				p, err := b.SelectKeyExcluding(key, []uint64{home})
				if err != nil {
					t.Fatal(err)
				}
				if p.InstanceID() == home || (i > 0 && p.InstanceID() != next) {
					t.Fatalf("%v: key %d excluding %d went to %d (before: %d)", s, key, home, p.InstanceID(), next)
				}
				next = p.InstanceID()
				if err := b.Report(p, lb.Cancelled, 0); err != nil {
					t.Fatal(err)
				}
			}
			third := 6 - home - next // ids are 1, 2, 3
			for _, c := range []struct {
				exclude []uint64
				want    uint64
			}{
				{[]uint64{home, next}, third},
				{[]uint64{1, 2, 3}, home}, // everything excluded: as SelectKey
				{[]uint64{99}, home},      // unknown ids are ignored
				{nil, home},
			} {
				p, err := b.SelectKeyExcluding(key, c.exclude)
				if err != nil || p.InstanceID() != c.want {
					t.Fatalf("%v: key %d excluding %v = %d, %v; want %d", s, key, c.exclude, p.InstanceID(), err, c.want)
				}
				if err := b.Report(p, lb.Success, time.Microsecond); err != nil {
					t.Fatal(err)
				}
			}
		}
		settled(t, b)
	}
}

func TestSelectKeyIgnoredByOtherStrategies(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2)
	last := keyedID(t, b, 42)
	for i := 0; i < 10; i++ {
		id := keyedID(t, b, 42)
		if id == last {
			t.Fatalf("round robin gave key 42 instance %d twice in a row", id)
		}
		last = id
	}
	// On the keyed strategies plain Select runs round robin.
	for _, s := range keyedStrategies {
		k := newBalancer(t, s, 1, 2)
		var prev uint64
		for i := 0; i < 10; i++ {
			p, err := k.Select()
			if err != nil || p.InstanceID() == prev {
				t.Fatalf("%v: Select = %d, %v after %d", s, p.InstanceID(), err, prev)
			}
			prev = p.InstanceID()
			if err := k.Report(p, lb.Success, time.Microsecond); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSelectKeyEmptySetAndClosed(t *testing.T) {
	for _, s := range keyedStrategies {
		b, err := lb.New(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.SelectKey(1); !errors.Is(err, lb.ErrNoInstance) {
			t.Fatalf("%v: SelectKey on empty set: %v", s, err)
		}
		_, err = b.SelectKeyExcluding(1, []uint64{1})
		var lbErr *lb.Error
		if !errors.As(err, &lbErr) || lbErr.Op != "SelectKeyExcluding" || lbErr.Status != lb.StatusNoInstance {
			t.Fatalf("%v: SelectKeyExcluding on empty set: %#v", s, err)
		}
		if st := settled(t, b); st.TotalRequests != 0 {
			t.Fatalf("%v: refused selects counted: %+v", s, st)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.SelectKey(1); !errors.Is(err, lb.ErrClosed) {
			t.Fatalf("%v: SelectKey after Close: %v", s, err)
		}
		if _, err := b.SelectKeyExcluding(1, nil); !errors.Is(err, lb.ErrClosed) {
			t.Fatalf("%v: SelectKeyExcluding after Close: %v", s, err)
		}
	}
}

// hashVectorPath finds tests/vectors/hash_bytes.txt above the working directory
// (go test runs in the package directory).
func hashVectorPath(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "tests", "vectors", "hash_bytes.txt")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("tests/vectors/hash_bytes.txt not found above the working directory")
		}
		dir = parent
	}
}

func TestHashBytesVector(t *testing.T) {
	f, err := os.Open(hashVectorPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := 0
	var empty uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || len(fields[1]) != 16 {
			t.Fatalf("malformed row %q", line)
		}
		want, err := strconv.ParseUint(fields[1], 16, 64)
		if err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		var data []byte
		if fields[0] != "-" {
			if data, err = hex.DecodeString(fields[0]); err != nil {
				t.Fatalf("row %q: %v", line, err)
			}
		} else {
			empty = want
		}
		if got := lb.HashBytes(data); got != want {
			t.Errorf("HashBytes(%d bytes %.16s...) = %016x, want %016x", len(data), fields[0], got, want)
		}
		rows++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 6 {
		t.Fatalf("%d rows in the vector, want 6", rows)
	}
	// nil and an empty non-nil slice are both the empty input.
	if lb.HashBytes(nil) != empty || lb.HashBytes([]byte{}) != empty || lb.HashBytes(make([]byte, 0, 8)) != empty {
		t.Fatalf("empty inputs hash to %016x, %016x; want %016x", lb.HashBytes(nil), lb.HashBytes([]byte{}), empty)
	}
}

func TestHashBytesSlices(t *testing.T) {
	buf := []byte("xuser:42x")
	if lb.HashBytes(buf[1:8]) != lb.HashBytes([]byte("user:42")) {
		t.Fatal("a subslice hashes differently from the same bytes")
	}
	if lb.HashBytes([]byte("a\x00b")) == lb.HashBytes([]byte("a")) {
		t.Fatal("bytes after a NUL were ignored")
	}
}

// The 1.3 options: defaults, accepted values, and each class of invalid value
// refused with nothing changed.
func TestKeyedOptions(t *testing.T) {
	b := newBalancer(t, lb.Maglev, 1, 2, 3)
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		o       lb.Option
		def, ok float64
		bad     []float64
	}{
		// Below, above, NaN, infinities, a fraction, and for Maglev non-primes in range.
		{lb.OptionMaglevTableSize, 65537, 251, []float64{13, 16, 5000012, 5000021, nan, inf, -inf, 65537.5, 65536, 18, 5000010}},
		{lb.OptionRingHashMinSize, 1024, 16, []float64{0, -1, 8388609, nan, inf, -inf, 1024.5}},
		{lb.OptionRingHashMaxSize, 8388608, 4096, []float64{0, -1, 8388609, nan, inf, -inf, 2048.25}},
		// 0 (off) or at least 100: 1..99 are refused as well.
		{lb.OptionHashBalanceFactor, 0, 125, []float64{-1, 10001, nan, inf, -inf, 125.5, 1, 99}},
	} {
		if v, err := b.Option(c.o); err != nil || v != c.def {
			t.Fatalf("option %d default = %v, %v; want %v", c.o, v, err, c.def)
		}
		for _, v := range c.bad {
			if err := b.SetOption(c.o, v); !errors.Is(err, lb.ErrInvalidArgument) {
				t.Fatalf("SetOption(%d, %v): %v", c.o, v, err)
			}
			if got, _ := b.Option(c.o); got != c.def {
				t.Fatalf("refused SetOption(%d, %v) changed it to %v", c.o, v, got)
			}
		}
		if err := b.SetOption(c.o, c.ok); err != nil {
			t.Fatalf("SetOption(%d, %v): %v", c.o, c.ok, err)
		}
		if got, _ := b.Option(c.o); got != c.ok {
			t.Fatalf("option %d = %v after setting %v", c.o, got, c.ok)
		}
	}
	// The ends of the ranges are accepted, and min must not exceed max from
	// either side.
	for _, c := range []struct {
		o  lb.Option
		v  float64
		ok bool
	}{
		{lb.OptionMaglevTableSize, 17, true}, {lb.OptionMaglevTableSize, 5000011, true}, {lb.OptionMaglevTableSize, 17, true},
		{lb.OptionRingHashMaxSize, 8388608, true}, {lb.OptionRingHashMinSize, 1, true}, {lb.OptionRingHashMinSize, 8388608, true},
		{lb.OptionRingHashMinSize, 1024, true}, {lb.OptionRingHashMaxSize, 2048, true},
		{lb.OptionRingHashMinSize, 4096, false}, {lb.OptionRingHashMaxSize, 512, false},
		{lb.OptionRingHashMinSize, 2048, true},
	} {
		err := b.SetOption(c.o, c.v)
		if (c.ok && err != nil) || (!c.ok && !errors.Is(err, lb.ErrInvalidArgument)) {
			t.Fatalf("SetOption(%d, %v): %v", c.o, c.v, err)
		}
	}
	if lo, _ := b.Option(lb.OptionRingHashMinSize); lo != 2048 {
		t.Fatalf("ring min = %v", lo)
	}
	// Keyed selection keeps working on the smallest table and a small ring.
	for _, s := range keyedStrategies {
		if err := b.SetStrategy(s); err != nil {
			t.Fatal(err)
		}
		for key := uint64(0); key < 20; key++ {
			if id := keyedID(t, b, key); keyedID(t, b, key) != id {
				t.Fatalf("%v: key %d moved", s, key)
			}
		}
	}
	settled(t, b)
}

// Many goroutines select keys at once (run with -race): every key stays on
// the instance it mapped to before they started.
func TestConcurrentSelectKey(t *testing.T) {
	for _, s := range keyedStrategies {
		b := newBalancer(t, s, 1, 2, 3, 4)
		const keys = 64
		want := make([]uint64, keys)
		for k := range want {
			want[k] = keyedID(t, b, lb.HashBytes([]byte(strconv.Itoa(k))))
		}
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					k := (i + w) % keys
					p, err := b.SelectKey(lb.HashBytes([]byte(strconv.Itoa(k))))
					if err != nil {
						t.Errorf("SelectKey: %v", err)
						return
					}
					if p.InstanceID() != want[k] {
						t.Errorf("%v: key %d went to %d, want %d", s, k, p.InstanceID(), want[k])
					}
					if err := b.Report(p, lb.Success, time.Microsecond); err != nil {
						t.Errorf("Report: %v", err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		settled(t, b)
	}
}

// An ejection shows in the stats and in the instance's health: its state, how
// often it was ejected, and the cool-down left.
func TestEjectionIsObservable(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2, 3)
	if err := b.SetOption(lb.OptionConsecutiveFailures, 2); err != nil {
		t.Fatal(err)
	}
	if err := b.SetOption(lb.OptionBaseEjectionMS, 60000); err != nil {
		t.Fatal(err)
	}
	for failed := 0; failed < 2; {
		p, err := b.Select()
		if err != nil {
			t.Fatal(err)
		}
		if p.InstanceID() == 2 {
			failed++
			err = b.Report(p, lb.Failure, time.Millisecond)
		} else {
			err = b.Report(p, lb.Success, time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Stats()
	if err != nil || s.Ejections != 1 {
		t.Fatalf("Stats: %+v, %v; want 1 ejection", s, err)
	}
	h, err := b.Health(2)
	if err != nil {
		t.Fatal(err)
	}
	if h.State != lb.HealthEjected || h.TimesEjected != 1 || h.CooldownRemaining <= 0 || h.CooldownRemaining > time.Minute {
		t.Fatalf("health of the ejected instance: %+v", h)
	}
	if h, _ := b.Health(1); h.State != lb.HealthHealthy || h.TimesEjected != 0 || h.CooldownRemaining != 0 {
		t.Fatalf("health of a healthy instance: %+v", h)
	}
	if lb.Maglev.String() != "maglev" || lb.Strategy(99).String() != "Strategy(99)" {
		t.Fatalf("names: %v %v", lb.Maglev, lb.Strategy(99))
	}
}

// The metrics text carries the stats and a line per instance.
func TestWriteMetrics(t *testing.T) {
	b := newBalancer(t, lb.RoundRobin, 1, 2, 3)
	for i := 0; i < 30; i++ {
		p, err := b.Select()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Report(p, lb.Success, time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if err := b.WriteMetrics(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"# TYPE lb_requests_total counter\nlb_requests_total 30\n",
		"lb_instance_requests_total{instance=\"2\"} 10\n",
		"lb_active_strategy{strategy=\"round_robin\"} 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("metrics lack %q:\n%s", want, text)
		}
	}
	_ = b.Close()
	if err := b.WriteMetrics(&out); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

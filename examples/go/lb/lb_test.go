package lb_test

import (
	"errors"
	"math"
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
	if err := b.SetStrategy(lb.Strategy(6)); !errors.Is(err, lb.ErrInvalidArgument) {
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

// Package lb is the Go binding of lb, a lock-free load-balancing core, over its
// C ABI (lb.h and liblb). It needs cgo and an installed lb that pkg-config can
// find (PKG_CONFIG_PATH for a non-standard prefix).
//
// A Balancer is safe for use by many goroutines at once, Close included: a call
// that starts after Close returns ErrClosed, and Close frees the C balancer only
// once no call is in flight. Errors from lb are *Error values that match the
// sentinel errors (ErrNoInstance, ErrInvalidPick, ...) with errors.Is.
//
//	b, err := lb.New(lb.LeastConnections)
//	...
//	b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}, {ID: 2, Weight: 2}})
//	pick, err := b.Select()
//	... send the request to pick.InstanceID() ...
//	b.Report(pick, lb.Success, elapsed)
//
// Keyed selection (since 1.3): under Maglev and RingHash, SelectKey sends a key
// (HashBytes of a session id, say) to the same instance while the set and its
// health stay the same; other strategies ignore the key.
package lb

/*
#include <stdlib.h>
#include <lb.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Strategy is a selection algorithm.
type Strategy uint32

// The strategies.
const (
	RoundRobin           Strategy = C.LB_STRATEGY_ROUND_ROBIN
	LeastConnections     Strategy = C.LB_STRATEGY_LEAST_CONNECTIONS
	WeightedResponseTime Strategy = C.LB_STRATEGY_WEIGHTED_RESPONSE_TIME
	Adaptive             Strategy = C.LB_STRATEGY_ADAPTIVE
	LeastRequest         Strategy = C.LB_STRATEGY_LEAST_REQUEST // since 1.2
	PeakEwma             Strategy = C.LB_STRATEGY_PEAK_EWMA     // since 1.2
	Maglev               Strategy = C.LB_STRATEGY_MAGLEV        // since 1.3
	RingHash             Strategy = C.LB_STRATEGY_RING_HASH     // since 1.3
)

// String is lb's name of the strategy (lb_strategy_str), as the README and the
// simulator use it.
func (s Strategy) String() string {
	if s > RingHash {
		return fmt.Sprintf("Strategy(%d)", uint32(s))
	}
	return C.GoString(C.lb_strategy_str(C.lb_strategy(s)))
}

// Outcome is how a request ended.
type Outcome uint32

// The outcomes.
const (
	// Success: the instance served the request.
	Success Outcome = C.LB_OUTCOME_SUCCESS
	// Failure: the instance failed it; counts against its health.
	Failure Outcome = C.LB_OUTCOME_FAILURE
	// Cancelled: released without judging the instance.
	Cancelled Outcome = C.LB_OUTCOME_CANCELLED
)

// Option is a configuration knob for SetOption and Option; lb.h documents each
// one's range and default.
type Option uint32

// The options.
const (
	OptionPickTimeoutMS          Option = C.LB_OPTION_PICK_TIMEOUT_MS
	OptionPanicThreshold         Option = C.LB_OPTION_PANIC_THRESHOLD
	OptionUnhealthyThreshold     Option = C.LB_OPTION_UNHEALTHY_THRESHOLD
	OptionConsecutiveFailures    Option = C.LB_OPTION_CONSECUTIVE_FAILURES
	OptionMinSamples             Option = C.LB_OPTION_MIN_SAMPLES
	OptionBaseEjectionMS         Option = C.LB_OPTION_BASE_EJECTION_MS
	OptionMaxEjectionMS          Option = C.LB_OPTION_MAX_EJECTION_MS
	OptionRecoverySuccesses      Option = C.LB_OPTION_RECOVERY_SUCCESSES
	OptionTrialRatio             Option = C.LB_OPTION_TRIAL_RATIO
	OptionLatencyTauMS           Option = C.LB_OPTION_LATENCY_TAU_MS
	OptionHealthWindowMS         Option = C.LB_OPTION_HEALTH_WINDOW_MS
	OptionLatencyOutlierRatio    Option = C.LB_OPTION_LATENCY_OUTLIER_RATIO
	OptionFailurePenaltyFactor   Option = C.LB_OPTION_FAILURE_PENALTY_FACTOR
	OptionAdaptiveWindowRequests Option = C.LB_OPTION_ADAPTIVE_WINDOW_REQUESTS
	OptionAdaptiveMinWindowMS    Option = C.LB_OPTION_ADAPTIVE_MIN_WINDOW_MS
	OptionAdaptiveMaxWindowMS    Option = C.LB_OPTION_ADAPTIVE_MAX_WINDOW_MS
	OptionAdaptiveHysteresis     Option = C.LB_OPTION_ADAPTIVE_HYSTERESIS
	OptionMaintenanceIntervalMS  Option = C.LB_OPTION_MAINTENANCE_INTERVAL_MS
	OptionClockRefreshOps        Option = C.LB_OPTION_CLOCK_REFRESH_OPS
	// Since 1.2.
	OptionChoiceCount               Option = C.LB_OPTION_CHOICE_COUNT
	OptionActiveRequestBias         Option = C.LB_OPTION_ACTIVE_REQUEST_BIAS
	OptionPeakEwmaTauMS             Option = C.LB_OPTION_PEAK_EWMA_TAU_MS
	OptionPeakEwmaDefaultLatencyMS  Option = C.LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS
	OptionSlowStartWindowMS         Option = C.LB_OPTION_SLOW_START_WINDOW_MS
	OptionSlowStartAggression       Option = C.LB_OPTION_SLOW_START_AGGRESSION
	OptionSlowStartMinWeightPercent Option = C.LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT
	// Since 1.3.
	OptionMaglevTableSize   Option = C.LB_OPTION_MAGLEV_TABLE_SIZE
	OptionRingHashMinSize   Option = C.LB_OPTION_RING_HASH_MIN_SIZE
	OptionRingHashMaxSize   Option = C.LB_OPTION_RING_HASH_MAX_SIZE
	OptionHashBalanceFactor Option = C.LB_OPTION_HASH_BALANCE_FACTOR
)

// Status is an lb_status code.
type Status uint32

// The status codes.
const (
	StatusOK                Status = C.LB_STATUS_OK
	StatusNullPointer       Status = C.LB_STATUS_NULL_POINTER
	StatusInvalidArgument   Status = C.LB_STATUS_INVALID_ARGUMENT
	StatusNoInstance        Status = C.LB_STATUS_NO_INSTANCE
	StatusUnknownInstance   Status = C.LB_STATUS_UNKNOWN_INSTANCE
	StatusDuplicateInstance Status = C.LB_STATUS_DUPLICATE_INSTANCE
	StatusInvalidPick       Status = C.LB_STATUS_INVALID_PICK
	StatusBufferTooSmall    Status = C.LB_STATUS_BUFFER_TOO_SMALL
	StatusInFlightLimit     Status = C.LB_STATUS_IN_FLIGHT_LIMIT
	StatusInternal          Status = C.LB_STATUS_INTERNAL
)

// String is lb's description of the status.
func (s Status) String() string {
	return C.GoString(C.lb_status_str(C.lb_status(s)))
}

// Error is a failed lb call: Op names the method, Status is lb's code.
type Error struct {
	Op     string
	Status Status
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "lb: " + e.Status.String()
	}
	return "lb: " + e.Op + ": " + e.Status.String()
}

// Is reports whether target is an *Error with the same status (and the same Op,
// when target names one), so errors.Is(err, ErrNoInstance) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && (t.Op == "" || t.Op == e.Op)
}

// Sentinel errors, one per status, for errors.Is.
var (
	ErrNullPointer       error = &Error{Status: StatusNullPointer}
	ErrInvalidArgument   error = &Error{Status: StatusInvalidArgument}
	ErrNoInstance        error = &Error{Status: StatusNoInstance}
	ErrUnknownInstance   error = &Error{Status: StatusUnknownInstance}
	ErrDuplicateInstance error = &Error{Status: StatusDuplicateInstance}
	ErrInvalidPick       error = &Error{Status: StatusInvalidPick}
	ErrBufferTooSmall    error = &Error{Status: StatusBufferTooSmall}
	ErrInFlightLimit     error = &Error{Status: StatusInFlightLimit}
	ErrInternal          error = &Error{Status: StatusInternal}
)

// ErrClosed is returned by every method of a Balancer after Close.
var ErrClosed = errors.New("lb: balancer is closed")

func check(op string, status C.lb_status) error {
	if status == C.LB_STATUS_OK {
		return nil
	}
	return &Error{Op: op, Status: Status(status)}
}

// Version is the version of the linked liblb ("MAJOR.MINOR.PATCH").
func Version() string {
	return C.GoString(C.lb_version())
}

// Instance is a backend: ID chosen by the caller and unique within a set,
// Weight at least 1, Capacity the most requests in flight at once (0: no limit).
type Instance struct {
	ID       uint64
	Weight   uint32
	Capacity uint32
}

// Pick is what Select hands out and Report takes back: a small value that may be
// copied and passed between goroutines. Report each pick exactly once; an
// unreported pick expires after the pick timeout. The zero Pick is invalid.
type Pick struct {
	raw C.lb_pick
}

// InstanceID is the chosen instance.
func (p Pick) InstanceID() uint64 {
	return uint64(p.raw.instance_id)
}

// Stats are the balancer-wide totals.
type Stats struct {
	TotalRequests    uint64 // picks handed out, ever
	Successes        uint64
	Failures         uint64
	Cancelled        uint64 // reported cancelled, plus expired
	Expired          uint64 // never reported before the pick timeout
	InFlight         uint64
	AvgLatency       time.Duration // mean latency of successful requests
	InstanceCount    uint32
	HealthyCount     uint32
	ActiveStrategy   Strategy // for Adaptive: the one it runs now
	StrategySwitches uint64
	AdaptiveTrials   uint64
	Ejections        uint64 // since 1.3
	EventsDropped    uint64 // events the full queue dropped (lb_poll_events); since 1.3
}

// Health is one instance's state.
type Health struct {
	InstanceID          uint64
	HealthScore         float64 // 0 (down) .. 1 (fully healthy)
	InFlight            uint64
	Requests            uint64 // picks of this instance
	Successes           uint64
	Failures            uint64
	ConsecutiveFailures uint64
	SuccessRate         float64 // 1 before any outcome
	LatencyEWMA         time.Duration
	Weight              uint32
	Capacity            uint32
	Healthy             bool          // health lets it be picked (capacity aside)
	State               HealthState   // since 1.3
	TimesEjected        uint64        // since 1.3
	CooldownRemaining   time.Duration // while ejected; since 1.3
}

// HealthState is where an instance stands with lb's passive health checks.
type HealthState uint8

const (
	HealthHealthy HealthState = C.LB_HEALTH_STATE_HEALTHY  // in service
	HealthEjected HealthState = C.LB_HEALTH_STATE_EJECTED  // out until its cool-down ends
	HealthOnTrial HealthState = C.LB_HEALTH_STATE_ON_TRIAL // taking trial requests
)

func microseconds(us C.double) time.Duration {
	return time.Duration(float64(us) * float64(time.Microsecond))
}

func healthFrom(h *C.lb_health) Health {
	return Health{
		InstanceID:          uint64(h.instance_id),
		HealthScore:         float64(h.health_score),
		InFlight:            uint64(h.in_flight),
		Requests:            uint64(h.requests),
		Successes:           uint64(h.successes),
		Failures:            uint64(h.failures),
		ConsecutiveFailures: uint64(h.consecutive_failures),
		SuccessRate:         float64(h.success_rate),
		LatencyEWMA:         microseconds(h.latency_ewma_us),
		Weight:              uint32(h.weight),
		Capacity:            uint32(h.capacity),
		Healthy:             h.healthy != 0,
		State:               HealthState(h.state),
		TimesEjected:        uint64(h.times_ejected),
		CooldownRemaining:   time.Duration(h.cooldown_remaining_ms) * time.Millisecond,
	}
}

// Balancer distributes requests over a set of instances.
type Balancer struct {
	// mu is held for reading by every call into lb and for writing by Close, so
	// the handle is freed only when no call is in flight.
	mu     sync.RWMutex
	handle *C.lb_balancer // nil once closed
}

// New creates a balancer with the given strategy and an empty instance set. Call
// Close when done; a Balancer that becomes unreachable is freed by a finalizer.
func New(strategy Strategy) (*Balancer, error) {
	var handle *C.lb_balancer
	if err := check("New", C.lb_balancer_new(C.lb_strategy(strategy), &handle)); err != nil {
		return nil, err
	}
	b := &Balancer{handle: handle}
	runtime.SetFinalizer(b, finalize)
	return b, nil
}

// NewSeeded is New with the random generators seeded from seed, so a run can be
// replayed (see Seed).
func NewSeeded(strategy Strategy, seed uint64) (*Balancer, error) {
	var handle *C.lb_balancer
	status := C.lb_balancer_new_seeded(C.lb_strategy(strategy), C.uint64_t(seed), &handle)
	if err := check("NewSeeded", status); err != nil {
		return nil, err
	}
	b := &Balancer{handle: handle}
	runtime.SetFinalizer(b, finalize)
	return b, nil
}

// Seed is the seed of the balancer's random generators: NewSeeded's, or the one
// New drew from the operating system's entropy.
func (b *Balancer) Seed() (uint64, error) {
	h, err := b.acquire()
	if err != nil {
		return 0, err
	}
	defer b.mu.RUnlock()
	var seed C.uint64_t
	if err := check("Seed", C.lb_get_seed(h, &seed)); err != nil {
		return 0, err
	}
	return uint64(seed), nil
}

func finalize(b *Balancer) {
	// Unreachable: no call can be in flight.
	if b.handle != nil {
		C.lb_balancer_free(b.handle)
		b.handle = nil
	}
}

// acquire read-locks b and returns its handle; the caller must call b.mu.RUnlock
// when it returns without error.
func (b *Balancer) acquire() (*C.lb_balancer, error) {
	b.mu.RLock()
	if b.handle == nil {
		b.mu.RUnlock()
		return nil, ErrClosed
	}
	return b.handle, nil
}

// Close frees the balancer once the calls in flight have returned. Later calls,
// Close included, return ErrClosed. Picks not yet reported are lost.
func (b *Balancer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handle == nil {
		return ErrClosed
	}
	C.lb_balancer_free(b.handle)
	b.handle = nil
	runtime.SetFinalizer(b, nil)
	return nil
}

// SetStrategy switches the strategy at run time; instances keep their state.
func (b *Balancer) SetStrategy(strategy Strategy) error {
	h, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.mu.RUnlock()
	return check("SetStrategy", C.lb_set_strategy(h, C.lb_strategy(strategy)))
}

// SetInstances replaces the whole instance set atomically. An ID that stays
// keeps its state; on error the old set stays.
func (b *Balancer) SetInstances(instances []Instance) error {
	set := make([]C.lb_instance, len(instances))
	for i, in := range instances {
		set[i] = C.lb_instance{id: C.uint64_t(in.ID), weight: C.uint32_t(in.Weight), capacity: C.uint32_t(in.Capacity)}
	}
	var first *C.lb_instance
	if len(set) > 0 {
		first = &set[0]
	}
	h, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.mu.RUnlock()
	return check("SetInstances", C.lb_set_instances(h, first, C.size_t(len(set))))
}

// SetHealthScore records an active health check result, 0 (down) to 1.
func (b *Balancer) SetHealthScore(id uint64, score float64) error {
	h, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.mu.RUnlock()
	return check("SetHealthScore", C.lb_set_health_score(h, C.uint64_t(id), C.double(score)))
}

// SetOption sets a configuration option; see lb.h for ranges and defaults.
func (b *Balancer) SetOption(option Option, value float64) error {
	h, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.mu.RUnlock()
	return check("SetOption", C.lb_set_option(h, C.lb_option(option), C.double(value)))
}

// Option reads a configuration option.
func (b *Balancer) Option(option Option) (float64, error) {
	h, err := b.acquire()
	if err != nil {
		return 0, err
	}
	defer b.mu.RUnlock()
	var value C.double
	if err := check("Option", C.lb_get_option(h, C.lb_option(option), &value)); err != nil {
		return 0, err
	}
	return float64(value), nil
}

// Select picks an instance. ErrNoInstance when nothing is selectable.
func (b *Balancer) Select() (Pick, error) {
	h, err := b.acquire()
	if err != nil {
		return Pick{}, err
	}
	defer b.mu.RUnlock()
	var p Pick
	if err := check("Select", C.lb_select(h, &p.raw)); err != nil {
		return Pick{}, err
	}
	return p, nil
}

// SelectExcluding picks an instance not in exclude (the ones already tried, for
// a retry) while any other is selectable, and otherwise as Select does.
func (b *Balancer) SelectExcluding(exclude []uint64) (Pick, error) {
	var ids *C.uint64_t
	if len(exclude) > 0 {
		ids = (*C.uint64_t)(unsafe.Pointer(&exclude[0]))
	}
	h, err := b.acquire()
	if err != nil {
		return Pick{}, err
	}
	defer b.mu.RUnlock()
	var p Pick
	if err := check("SelectExcluding", C.lb_select_excluding(h, ids, C.size_t(len(exclude)), &p.raw)); err != nil {
		return Pick{}, err
	}
	return p, nil
}

// SelectKey picks an instance for key: under Maglev and RingHash the same key
// goes to the same instance while the set and its health stay the same, and to
// the next one in table order while that one cannot take it. Other strategies
// ignore the key and select as Select does.
func (b *Balancer) SelectKey(key uint64) (Pick, error) {
	h, err := b.acquire()
	if err != nil {
		return Pick{}, err
	}
	defer b.mu.RUnlock()
	var p Pick
	if err := check("SelectKey", C.lb_select_key(h, C.uint64_t(key), &p.raw)); err != nil {
		return Pick{}, err
	}
	return p, nil
}

// SelectKeyExcluding is SelectKey avoiding exclude (a retry) while any other
// instance can take the request: the key moves along the table past them, to
// the same instance each time.
func (b *Balancer) SelectKeyExcluding(key uint64, exclude []uint64) (Pick, error) {
	var ids *C.uint64_t
	if len(exclude) > 0 {
		ids = (*C.uint64_t)(unsafe.Pointer(&exclude[0]))
	}
	h, err := b.acquire()
	if err != nil {
		return Pick{}, err
	}
	defer b.mu.RUnlock()
	var p Pick
	status := C.lb_select_key_excluding(h, C.uint64_t(key), ids, C.size_t(len(exclude)), &p.raw)
	if err := check("SelectKeyExcluding", status); err != nil {
		return Pick{}, err
	}
	return p, nil
}

// HashBytes is the key lb gives data (XXH3-64, seed 0), the same in every
// process and binding, for SelectKey.
func HashBytes(data []byte) uint64 {
	// &data[0] of an empty slice would panic; lb takes nil with length 0 as the
	// empty input.
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return uint64(C.lb_hash_bytes(p, C.size_t(len(data))))
}

// Report tells how the request of p ended. latency counts for Success and
// Failure (negative counts as 0). ErrInvalidPick for a pick that is not from
// this balancer, corrupted, expired, or a detected second report.
func (b *Balancer) Report(p Pick, outcome Outcome, latency time.Duration) error {
	us := latency.Microseconds()
	if us < 0 {
		us = 0
	}
	h, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.mu.RUnlock()
	return check("Report", C.lb_report(h, &p.raw, C.lb_outcome(outcome), C.uint64_t(us)))
}

// Stats returns the balancer-wide totals.
func (b *Balancer) Stats() (Stats, error) {
	h, err := b.acquire()
	if err != nil {
		return Stats{}, err
	}
	defer b.mu.RUnlock()
	var s C.lb_stats
	if err := check("Stats", C.lb_get_stats(h, &s)); err != nil {
		return Stats{}, err
	}
	return Stats{
		TotalRequests:    uint64(s.total_requests),
		Successes:        uint64(s.successes),
		Failures:         uint64(s.failures),
		Cancelled:        uint64(s.cancelled),
		Expired:          uint64(s.expired),
		InFlight:         uint64(s.in_flight),
		AvgLatency:       microseconds(s.avg_latency_us),
		InstanceCount:    uint32(s.instance_count),
		HealthyCount:     uint32(s.healthy_count),
		ActiveStrategy:   Strategy(s.active_strategy),
		StrategySwitches: uint64(s.strategy_switches),
		AdaptiveTrials:   uint64(s.adaptive_trials),
		Ejections:        uint64(s.ejections),
		EventsDropped:    uint64(s.events_dropped),
	}, nil
}

// WriteMetrics writes the balancer's metrics to w in the Prometheus text
// exposition format (lb_metrics_text): totals, the strategy in use, and each
// instance's counters, gauges and state labelled instance="<id>".
func (b *Balancer) WriteMetrics(w io.Writer) error {
	text, err := b.metricsText()
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, text)
	return err
}

func (b *Balancer) metricsText() (string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.handle == nil {
		return "", ErrClosed
	}
	var needed C.size_t
	for size := C.size_t(16384); ; size = needed {
		buf := (*C.char)(C.malloc(size))
		st := C.lb_metrics_text(b.handle, buf, size, &needed)
		if st == C.LB_STATUS_OK {
			text := C.GoString(buf)
			C.free(unsafe.Pointer(buf))
			return text, nil
		}
		C.free(unsafe.Pointer(buf))
		if st != C.LB_STATUS_BUFFER_TOO_SMALL {
			return "", check("lb_metrics_text", st)
		}
	}
}

// Health returns the state of one instance; ErrUnknownInstance if it is not in
// the current set.
func (b *Balancer) Health(id uint64) (Health, error) {
	h, err := b.acquire()
	if err != nil {
		return Health{}, err
	}
	defer b.mu.RUnlock()
	var out C.lb_health
	if err := check("Health", C.lb_get_health(h, C.uint64_t(id), &out)); err != nil {
		return Health{}, err
	}
	return healthFrom(&out), nil
}

// AllHealth returns the state of every instance of the current set, in set
// order.
func (b *Balancer) AllHealth() ([]Health, error) {
	h, err := b.acquire()
	if err != nil {
		return nil, err
	}
	defer b.mu.RUnlock()
	var buf []C.lb_health
	for {
		var first *C.lb_health
		if len(buf) > 0 {
			first = &buf[0]
		}
		var count C.size_t
		status := C.lb_get_all_health(h, first, C.size_t(len(buf)), &count)
		if status == C.LB_STATUS_BUFFER_TOO_SMALL {
			buf = make([]C.lb_health, int(count)) // the set changed size: ask again
			continue
		}
		if err := check("AllHealth", status); err != nil {
			return nil, err
		}
		all := make([]Health, int(count))
		for i := range all {
			all[i] = healthFrom(&buf[i])
		}
		return all, nil
	}
}

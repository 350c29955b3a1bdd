package observe

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fxbus/fxbus/bus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type recordingObserver struct {
	name  string
	calls *[]string
}

func (o recordingObserver) Bind(topic, sub string) CallObserver {
	*o.calls = append(*o.calls, o.name+" bind "+topic+"/"+sub)
	return recordingCall(o)
}

type recordingCall recordingObserver

func (o recordingCall) Observe(c Call) {
	*o.calls = append(*o.calls, o.name+" "+c.Outcome.String())
}

type nilBinder struct{}

func (nilBinder) Bind(string, string) CallObserver { return nil }

func TestObservers(t *testing.T) {
	var calls []string
	a, b := recordingObserver{"a", &calls}, recordingObserver{"b", &calls}
	if Observers() != nil || Observers(nil, nil) != nil {
		t.Error("Observers of nothing is not nil")
	}
	if o := Observers(nil, a); o != Observer(a) {
		t.Errorf("Observers(nil, a) = %v, want a itself", o)
	}
	Observers(a, nil, b).Bind("t", "s").Observe(Call{Outcome: OutcomeError})
	want := []string{"a bind t/s", "b bind t/s", "a error", "b error"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	// An observer that binds to nothing is left out; with none left, the
	// result still observes (and does nothing).
	Observers(nilBinder{}, nilBinder{}).Bind("t", "s").Observe(Call{})
}

// TestEnvTravelsInContext checks that Registration.Subscribe can read what
// the runner put in its context, and that a context without one gives the
// zero Env.
func TestEnvTravelsInContext(t *testing.T) {
	waited := false
	env := Env{Observer: recordingObserver{"a", new([]string)}, Wait: func(context.Context, time.Duration) error { waited = true; return nil }}
	got := EnvFrom(WithEnv(context.Background(), env))
	if got.Observer != env.Observer || got.Wait == nil || got.Interceptor != nil {
		t.Fatalf("EnvFrom(WithEnv(env)) = %+v, want %+v", got, env)
	}
	if err := got.Wait(context.Background(), time.Hour); err != nil || !waited {
		t.Errorf("the Env's Wait was not the one given: %v, %v", err, waited)
	}
	if z := EnvFrom(context.Background()); z.Observer != nil || z.Wait != nil || z.Interceptor != nil {
		t.Errorf("EnvFrom(a bare context) = %+v, want the zero Env", z)
	}
	//lint:ignore SA1012 a nil context is what this checks
	if z := EnvFrom(nil); z.Observer != nil { //nolint:staticcheck
		t.Errorf("EnvFrom(nil) = %+v, want the zero Env", z)
	}
}

func TestOutcomeAndFateNames(t *testing.T) {
	for err, want := range map[error]Outcome{
		nil:                                    OutcomeOK,
		errors.New("x"):                        OutcomeError,
		&bus.PanicError{}:                      OutcomePanic,
		fmt.Errorf("%w: late", ErrTimeout):     OutcomeTimeout,
		fmt.Errorf("w: %w", &bus.PanicError{}): OutcomeError, // a wrapped panic is another handler's
	} {
		if got := OutcomeOf(err); got != want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", err, got, want)
		}
	}
	if Outcome(200).String() != "unknown" || Fate(200).String() != "unknown" {
		t.Error("an unknown outcome or fate has a name")
	}
	if FateDeadLetterUnread.String() != "dead-letter-unread" || OutcomeTimeout.String() != "timeout" {
		t.Errorf("names: %v, %v", FateDeadLetterUnread, OutcomeTimeout)
	}
}

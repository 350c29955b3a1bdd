package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// covers reports whether every subject that pattern matches is also matched
// by filter: "orders.>" covers "orders.placed" and "orders.*", not ">".
func covers(filter, pattern string) bool {
	f, p := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i, ft := range f {
		if ft == ">" {
			return i < len(p)
		}
		if i >= len(p) || p[i] == ">" {
			return false
		}
		if ft != "*" && (p[i] == "*" || ft != p[i]) {
			return false
		}
	}
	return len(f) == len(p)
}

// overlap reports whether some subject matches both patterns.
func overlap(a, b string) bool {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] == ">" || y[i] == ">" {
			return true
		}
		if x[i] != "*" && y[i] != "*" && x[i] != y[i] {
			return false
		}
	}
	return len(x) == len(y)
}

// coveredBy reports whether one of filters covers pattern.
func coveredBy(filters []string, pattern string) bool {
	return slices.ContainsFunc(filters, func(f string) bool { return covers(f, pattern) })
}

// merge returns the union of subjects, leaving out those that another one
// covers, sorted.
func merge(subjects ...[]string) []string {
	all := slices.Concat(subjects...)
	slices.Sort(all)
	all = slices.Compact(all)
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool {
		return slices.ContainsFunc(all, func(o string) bool { return o != s && covers(o, s) })
	})
}

// streams is the set of streams the bridge uses, as they are on the server.
type streams struct {
	subjects map[string][]string      // by stream name
	window   map[string]time.Duration // duplicate window, by stream name
	order    []string                 // Config.Streams' order, then the dead-letter stream
}

// streamFor returns the stream that captures subject: the named one, or the
// first that covers it.
func (s *streams) streamFor(name, subject string) (string, error) {
	if name != "" {
		subs, ok := s.subjects[name]
		if !ok {
			return "", fmt.Errorf("stream %q is not in Config.Streams: add it there (with Existing if it is managed elsewhere)", name)
		}
		if !coveredBy(subs, subject) {
			return "", fmt.Errorf("%w: stream %q captures %v, not %q: add the subject to its Subjects", ErrNotCovered, name, subs, subject)
		}
		return name, nil
	}
	for _, n := range s.order {
		if coveredBy(s.subjects[n], subject) {
			return n, nil
		}
	}
	var desc []string
	for _, n := range s.order {
		desc = append(desc, fmt.Sprintf("%s %v", n, s.subjects[n]))
	}
	return "", fmt.Errorf("%w: no stream captures %q (streams: %s): add it to the Subjects of one of Config.Streams", ErrNotCovered, subject, strings.Join(desc, ", "))
}

// ensureStreams makes the configured streams (checking that the Existing
// ones exist), or the default stream with the subjects used, and the
// dead-letter stream.
func ensureStreams(ctx context.Context, js jetstream.JetStream, cfg Config, used []string, log *zap.Logger) (*streams, error) {
	wanted, grow := cfg.Streams, false
	if len(wanted) == 0 && len(used) > 0 {
		wanted, grow = []Stream{{Name: DefaultStream, Subjects: merge(used)}}, true
	}
	out := &streams{subjects: make(map[string][]string), window: make(map[string]time.Duration)}
	for i, s := range append(slices.Clone(wanted), cfg.DeadLetters) {
		got, err := ensureStream(ctx, js, s, grow && i == 0, log)
		if err != nil {
			return nil, err
		}
		out.subjects[s.Name], out.window[s.Name] = got.Subjects, got.Duplicates
		out.order = append(out.order, s.Name)
	}
	return out, nil
}

// ensureStream makes s as configured, or checks that it exists when it is
// Existing, and returns its configuration on the server. It looks the
// stream up first, creates it if it is missing, and updates it only when a
// setting the bridge owns differs, so that instances that start at once
// with the same configuration leave it alone. With grow, the subjects the
// stream already captures are kept (the default stream: each app adds its
// own). A request that gets no answer, or that loses a race with another
// process, is tried again until ctx ends.
func ensureStream(ctx context.Context, js jetstream.JetStream, s Stream, grow bool, log *zap.Logger) (jetstream.StreamConfig, error) {
	if !s.Existing && len(s.Subjects) == 0 {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: stream %q has no Subjects: list the subjects it captures, or set Existing", s.Name)
	}
	var got jetstream.StreamConfig
	err := retry(ctx, fmt.Sprintf("stream %q", s.Name), func(ctx context.Context) error {
		st, err := js.Stream(ctx, s.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound) && s.Existing:
			return fmt.Errorf("natsbridge: stream %q does not exist: create it, or drop Existing so that the bridge creates it", s.Name)
		case errors.Is(err, jetstream.ErrStreamNotFound):
			got, err = createStream(ctx, js, s)
			return err
		case err != nil:
			return fmt.Errorf("natsbridge: look up stream %q: %w", s.Name, err)
		}
		got = st.CachedInfo().Config
		if s.Existing {
			return nil
		}
		got, err = updateStream(ctx, js, s, got, grow, log)
		return err
	})
	return got, err
}

// createStream creates s; errRaced if another process created it first.
func createStream(ctx context.Context, js jetstream.JetStream, s Stream) (jetstream.StreamConfig, error) {
	st, err := js.CreateStream(ctx, s.jetstream())
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: create stream %q: %w", s.Name, errRaced)
	}
	if err != nil {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: create stream %q with subjects %v: %w (a subject another stream captures, or more Replicas than the cluster has servers, must be changed in Config.Streams)", s.Name, s.Subjects, err)
	}
	return st.CachedInfo().Config, nil
}

// updateStream updates the stream whose configuration on the server is have
// to s, if a setting the bridge owns differs; settings it does not own stay
// as they are.
func updateStream(ctx context.Context, js jetstream.JetStream, s Stream, have jetstream.StreamConfig, grow bool, log *zap.Logger) (jetstream.StreamConfig, error) {
	want := owned(have, s.jetstream())
	if grow {
		want.Subjects = merge(have.Subjects, s.Subjects)
	}
	changes := diff(have, want)
	if len(changes) == 0 {
		return have, nil
	}
	st, err := js.UpdateStream(ctx, want)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: update stream %q: %w", s.Name, errRaced)
	}
	if err != nil {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: update stream %q (%s): %w (a subject another stream captures, or a setting the server cannot change, must be changed in Config.Streams)",
			s.Name, strings.Join(changes, ", "), err)
	}
	log.Info("updated stream", zap.String("stream", s.Name), zap.Strings("changes", changes))
	return st.CachedInfo().Config, nil
}

// owned returns have with the settings the bridge owns taken from want.
func owned(have, want jetstream.StreamConfig) jetstream.StreamConfig {
	out := have
	out.Subjects = want.Subjects
	out.Retention, out.Discard, out.Storage = want.Retention, want.Discard, want.Storage
	out.Replicas, out.MaxAge, out.MaxBytes, out.MaxMsgs = want.Replicas, want.MaxAge, want.MaxBytes, want.MaxMsgs
	out.Duplicates = want.Duplicates
	return out
}

// diff lists the settings the bridge owns that differ between two stream
// configurations, as "name: old -> new"; subjects compare as sets.
func diff(have, want jetstream.StreamConfig) []string {
	var out []string
	add := func(name string, was, now any) {
		if was != now {
			out = append(out, fmt.Sprintf("%s: %v -> %v", name, was, now))
		}
	}
	hs, ws := slices.Sorted(slices.Values(have.Subjects)), slices.Sorted(slices.Values(want.Subjects))
	if !slices.Equal(hs, ws) {
		out = append(out, fmt.Sprintf("subjects: %v -> %v", hs, ws))
	}
	add("retention", have.Retention, want.Retention)
	add("discard", have.Discard, want.Discard)
	add("storage", have.Storage, want.Storage)
	add("replicas", have.Replicas, want.Replicas)
	add("max age", have.MaxAge, want.MaxAge)
	add("max bytes", have.MaxBytes, want.MaxBytes)
	add("max msgs", have.MaxMsgs, want.MaxMsgs)
	add("duplicates", have.Duplicates, want.Duplicates)
	return out
}

package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// ensureStreams creates or updates the configured streams (checking that the
// Existing ones exist), or the default stream with the subjects used, and the
// dead-letter stream.
func ensureStreams(ctx context.Context, js jetstream.JetStream, cfg Config, used []string) (*streams, error) {
	wanted := cfg.Streams
	if len(wanted) == 0 && len(used) > 0 {
		def := Stream{Name: DefaultStream, Subjects: merge(used)}
		if s, err := js.Stream(ctx, DefaultStream); err == nil {
			def.Subjects = merge(s.CachedInfo().Config.Subjects, used)
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("natsbridge: look up stream %q: %w", DefaultStream, err)
		}
		wanted = []Stream{def}
	}
	out := &streams{subjects: make(map[string][]string), window: make(map[string]time.Duration)}
	for _, s := range append(slices.Clone(wanted), cfg.DeadLetters) {
		got, err := ensureStream(ctx, js, s)
		if err != nil {
			return nil, err
		}
		out.subjects[s.Name], out.window[s.Name] = got.Subjects, got.Duplicates
		out.order = append(out.order, s.Name)
	}
	return out, nil
}

// ensureStream makes s as configured, or checks that it exists when it is
// Existing, and returns its configuration on the server.
func ensureStream(ctx context.Context, js jetstream.JetStream, s Stream) (jetstream.StreamConfig, error) {
	if s.Existing {
		st, err := js.Stream(ctx, s.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: stream %q does not exist: create it, or drop Existing so that the bridge creates it", s.Name)
		}
		if err != nil {
			return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: look up stream %q: %w", s.Name, err)
		}
		return st.CachedInfo().Config, nil
	}
	if len(s.Subjects) == 0 {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: stream %q has no Subjects: list the subjects it captures, or set Existing", s.Name)
	}
	st, err := js.CreateOrUpdateStream(ctx, s.jetstream())
	if err != nil {
		return jetstream.StreamConfig{}, fmt.Errorf("natsbridge: create or update stream %q with subjects %v: %w (a subject another stream captures, or a setting the server cannot change, must be changed in Config.Streams)", s.Name, s.Subjects, err)
	}
	return st.CachedInfo().Config, nil
}

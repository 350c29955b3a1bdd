package bus

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
)

// topicFor returns the topic called name, declaring it with type T if it is
// new. The caller holds b.mu.
func topicFor[T any](b *Bus, name string) (*Topic[T], error) {
	if t, ok := b.topics[name]; ok {
		tt, ok := t.(*Topic[T])
		if !ok {
			return nil, &TypeError{Topic: name, Have: t.typeName(), Want: typeName[T]()}
		}
		return tt, nil
	}
	t := &Topic[T]{topicBase: topicBase{name: name, typ: reflect.TypeFor[T](), b: b, seed: rand.Uint64()}}
	t.snap.Store(&snapshot[T]{})
	b.topics[name] = t
	for _, s := range b.subs {
		c := s.info()
		if c.wildcard && Match(c.pattern, name) && t.attach(s) {
			c.topics = append(c.topics, t)
		}
	}
	return t, nil
}

// NewTopic returns the topic called name, declaring it if it is new. Asking
// again for the same name with the same type returns the same topic; with
// another type it is a *TypeError. Topics live as long as the bus.
func NewTopic[T any](b *Bus, name string) (*Topic[T], error) {
	if b == nil {
		return nil, errors.New("bus: nil *Bus: make one with bus.New")
	}
	if err := ValidateTopic(name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Load() == stateClosed {
		return nil, ErrClosed
	}
	return topicFor[T](b, name)
}

// DeleteTopic removes the topic called name, so that a bus whose topics come
// and go (one per chat room, say) does not grow. It fails while a
// subscription made for exactly that name is live; wildcard subscriptions
// are detached from it. Publishing through a *Topic of a deleted topic
// returns an error wrapping ErrTopicDeleted; NewTopic with the same name
// declares a new topic. The topic's stats are forgotten, and so are those of
// ended subscriptions made for exactly that name.
func (b *Bus) DeleteTopic(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.topics[name]
	if !ok {
		return fmt.Errorf("bus: DeleteTopic(%s): no such topic", quote(name))
	}
	for _, s := range b.subs {
		if c := s.info(); !c.wildcard && c.pattern == name {
			return fmt.Errorf("bus: DeleteTopic(%q): subscription %q still uses it: end it first", name, c.name)
		}
	}
	for _, s := range b.subs {
		c := s.info()
		if i := slices.Index(c.topics, t); i >= 0 {
			t.detach(s)
			c.topics = slices.Delete(c.topics, i, i+1)
		}
	}
	t.remove()
	delete(b.topics, name)
	for k := range b.retired {
		if k.pattern == name {
			delete(b.retired, k)
		}
	}
	return nil
}

// remove takes s out of the registry and of every topic it is attached to.
func (b *Bus) remove(s subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := s.info()
	if c.stop != nil {
		c.stop()
	}
	for _, t := range c.topics {
		t.detach(s)
	}
	if i := slices.Index(b.subs, s); i >= 0 {
		b.subs = slices.Delete(b.subs, i, i+1)
		b.ending = append(b.ending, s)
	}
}

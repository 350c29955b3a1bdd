package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestDeleteTopicKeepsMemoryFlat: a bus whose topics come and go (one per
// chat room) does not grow: after each room's topic is deleted nothing of it
// is left in the registry or the stats.
func TestDeleteTopicKeepsMemoryFlat(t *testing.T) {
	b := New()
	defer func() {
		if err := b.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	all, err := Subscribe[int](context.Background(), b, "room.>", Name("all"), Buffer(1), WithPolicy(DropNewest()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		name := fmt.Sprintf("room.%d", i)
		top, err := NewTopic[int](b, name)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s, err := top.Subscribe(ctx, Name("member"))
		if err != nil {
			t.Fatal(err)
		}
		if err := top.Publish(context.Background(), i); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteTopic(name); err == nil {
			t.Fatalf("DeleteTopic(%q) with a live subscription: no error", name)
		}
		cancel()
		<-s.Done()
		if err := b.DeleteTopic(name); err != nil {
			t.Fatal(err)
		}
		if err := top.Publish(context.Background(), i); !errors.Is(err, ErrTopicDeleted) {
			t.Fatalf("publish on a deleted topic: %v, want ErrTopicDeleted", err)
		}
	}
	b.mu.Lock()
	topics, retired := len(b.topics), len(b.retired)
	b.mu.Unlock()
	if topics != 0 || retired != 0 {
		t.Errorf("after deleting every room: %d topics and %d retired stats left, want none", topics, retired)
	}
	if n := len(all.info().topics); n != 0 {
		t.Errorf("the wildcard subscription is still attached to %d topics", n)
	}
	st := b.Stats()
	if len(st.Topics) != 0 || len(st.Subscriptions) != 1 {
		t.Errorf("stats: %d topics, %d subscriptions; want 0 and the wildcard one", len(st.Topics), len(st.Subscriptions))
	}
	if err := b.DeleteTopic("room.0"); err == nil {
		t.Error("DeleteTopic of an unknown topic: no error")
	}
	if got := len(drained(all)); got != 1 {
		t.Errorf("the wildcard subscription (buffer 1) holds %d messages, want 1", got)
	}
	// The name can be declared again, even with another type.
	if _, err := NewTopic[string](b, "room.0"); err != nil {
		t.Errorf("NewTopic after DeleteTopic: %v", err)
	}
}

package benchmarks

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// Watermill's in-process Pub/Sub, gochannel, as its docs set it up: a
// GoChannel with an output buffer per subscriber (buffer, as everyone
// else's), no logging, messages made with NewMessage and a UUID. Publish
// copies the message for each subscriber and hands each copy to a goroutine
// of its own, which waits until the subscriber acks it.
//
// Watermill carries []byte payloads: the event is written as two
// little-endian int64s (16 bytes, one allocation per publish), the cheapest
// encoding there is, and each subscriber decodes its copy.

func encode(ev event) []byte {
	p := make([]byte, 16)
	binary.LittleEndian.PutUint64(p, uint64(ev.ID))
	binary.LittleEndian.PutUint64(p[8:], uint64(ev.At))
	return p
}

func decode(p []byte) event {
	return event{
		ID: int64(binary.LittleEndian.Uint64(p)),
		At: int64(binary.LittleEndian.Uint64(p[8:])),
	}
}

// newGoChannel makes the Pub/Sub and closes it when the row is done, which
// closes every subscriber's channel.
func newGoChannel(b *testing.B) *gochannel.GoChannel {
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: buffer}, watermill.NopLogger{})
	b.Cleanup(func() {
		if err := gc.Close(); err != nil {
			b.Error(err)
		}
	})
	return gc
}

// watermillChannels subscribes with GoChannel.Subscribe; a goroutine per
// subscription reads its channel and acks each message once handled.
func watermillChannels(b *testing.B, hs []handler) func(event) error {
	var readers sync.WaitGroup
	b.Cleanup(readers.Wait) // after the GoChannel's Close (cleanups run last first)
	gc := newGoChannel(b)
	for _, h := range hs {
		msgs, err := gc.Subscribe(context.Background(), topic)
		if err != nil {
			b.Fatal(err)
		}
		readers.Go(func() {
			for m := range msgs {
				h(decode(m.Payload))
				m.Ack()
			}
		})
	}
	return watermillPublish(gc)
}

// watermillHandlers is watermill's handler style: a Router with one
// consumer handler per subscriber, each subscribed to the GoChannel. The
// router calls each handler in a goroutine per message and acks the message
// when the handler returns nil.
func watermillHandlers(b *testing.B, hs []handler) func(event) error {
	gc := newGoChannel(b)
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	for i, h := range hs {
		router.AddConsumerHandler(subName(i), topic, gc, func(m *message.Message) error {
			h(decode(m.Payload))
			return nil
		})
	}
	ran := make(chan error, 1)
	b.Cleanup(func() { // before the GoChannel's Close
		if err := router.Close(); err != nil {
			b.Error(err)
		}
		if err := <-ran; err != nil {
			b.Error(err)
		}
	})
	go func() { ran <- router.Run(context.Background()) }()
	select {
	case <-router.Running():
	case err := <-ran:
		ran <- err // for the cleanup
		b.Fatalf("watermill router: %v", err)
	}
	return watermillPublish(gc)
}

func watermillPublish(gc *gochannel.GoChannel) func(event) error {
	return func(ev event) error {
		return gc.Publish(topic, message.NewMessage(watermill.NewUUID(), encode(ev)))
	}
}

package natsbridge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the Config.
const (
	DefaultStream           = "FXBUS"              // the stream made when Config.Streams is empty
	DefaultDeadLetterStream = "FXBUS_DEAD_LETTERS" // the stream of dead letters
	DefaultDeadLetterPrefix = "fxbus.dead-letter"  // subjects of dead letters start with it

	DefaultMaxAge           = 7 * 24 * time.Hour  // how long a stream keeps messages
	DefaultDeadLetterMaxAge = 14 * 24 * time.Hour // how long the dead-letter stream keeps them
	DefaultDuplicates       = 2 * time.Minute     // a stream's deduplication window

	DefaultMaxMemory = 256 << 20 // the embedded server's JetStream memory limit, bytes
	DefaultMaxStore  = 1 << 30   // the embedded server's JetStream disk limit, bytes

	DefaultReconnectWait   = 2 * time.Second
	DefaultReconnectJitter = time.Second
	DefaultReconnectBuffer = 8 << 20 // bytes kept for the server while reconnecting
)

// Config configures the bridge. The zero Config runs an embedded server in
// the default store directory, with one stream that captures every exported
// and imported subject. Supply one with fx.Supply, or change fields with
// Configure.
type Config struct {
	// URLs are the NATS servers to connect to, like "nats://10.0.0.1:4222".
	// Empty: the bridge starts an embedded server in the process.
	URLs []string

	// Embedded configures the embedded server (used when URLs is empty).
	Embedded Embedded

	// Name names the app to NATS (the connection's name) and is the start of
	// the default durable names. Default: the executable's base name.
	Name string

	// Source is the ce-source of exported events. Default: "/fxbus/" + Name.
	Source string

	// Streams are the streams exports publish to and imports consume from,
	// created or updated at start (unless Existing). Empty: one stream named
	// DefaultStream whose subjects are the exported patterns and imported
	// subjects, added to those it already has, never removed.
	Streams []Stream

	// DeadLetters is the stream of dead letters. Zero fields take defaults:
	// Name DefaultDeadLetterStream, Subjects [DefaultDeadLetterPrefix + ".>"],
	// MaxAge DefaultDeadLetterMaxAge.
	DeadLetters Stream

	// Codec encodes events that set no WithCodec. Default: JSON.
	Codec Codec

	// ReconnectWait, ReconnectJitter and ReconnectBuffer tune the client's
	// reconnection, which never gives up: it waits ReconnectWait plus up to
	// ReconnectJitter between tries and keeps up to ReconnectBuffer bytes of
	// publishes meanwhile. Zero: the Default values.
	ReconnectWait   time.Duration
	ReconnectJitter time.Duration
	ReconnectBuffer int

	// ConnectOptions are added to the bridge's own nats.Options, for
	// credentials, TLS and the like. The bridge's own come after them: the
	// connection's event handlers and reconnect settings are the bridge's.
	ConnectOptions []nats.Option
}

// Embedded configures the embedded server.
type Embedded struct {
	// StoreDir is where JetStream keeps its streams. Default: the user's
	// cache directory (os.UserCacheDir) + "/fxbus/natsbridge/" + Config.Name.
	// The bridge locks it: a second process that points at the same one
	// fails to start with ErrStoreLocked.
	StoreDir string

	// Listen is a host:port where the server also accepts clients, so that
	// other processes can connect ("127.0.0.1:0" picks a free port; read it
	// from Bridge.ClientURL). Empty: no port at all; the app connects in
	// process.
	Listen string

	// MaxMemory and MaxStore bound what JetStream may use of memory and disk,
	// in bytes. Zero: DefaultMaxMemory and DefaultMaxStore (without a bound
	// the server would reserve a large share of the machine's).
	MaxMemory int64
	MaxStore  int64

	// ServerName names the server. Default: Config.Name.
	ServerName string
}

// Stream configures one JetStream stream. Zero fields take defaults.
type Stream struct {
	Name     string
	Subjects []string

	// Memory keeps the stream in memory instead of on disk: faster, lost
	// when the server stops.
	Memory bool

	Replicas   int           // default 1
	MaxAge     time.Duration // default DefaultMaxAge
	MaxBytes   int64         // default unlimited (the server's MaxStore bounds it)
	MaxMsgs    int64         // default unlimited
	Duplicates time.Duration // default DefaultDuplicates

	// Existing leaves the stream as it is on the server: the bridge only
	// checks that it exists and captures the subjects used with it.
	Existing bool
}

// resolve fills c's defaults; it does not touch the file system.
func (c Config) resolve() (Config, error) {
	if c.Name == "" {
		c.Name = executableName()
	}
	if err := validName("Config.Name", c.Name); err != nil {
		return c, fmt.Errorf("natsbridge: %w", err)
	}
	if c.Source == "" {
		c.Source = "/fxbus/" + c.Name
	}
	if c.Codec == nil {
		c.Codec = JSON
	}
	c.ReconnectWait = or(c.ReconnectWait, DefaultReconnectWait)
	c.ReconnectJitter = or(c.ReconnectJitter, DefaultReconnectJitter)
	c.ReconnectBuffer = or(c.ReconnectBuffer, DefaultReconnectBuffer)
	c.Embedded.MaxMemory = or(c.Embedded.MaxMemory, DefaultMaxMemory)
	c.Embedded.MaxStore = or(c.Embedded.MaxStore, DefaultMaxStore)
	c.Embedded.ServerName = or(c.Embedded.ServerName, c.Name)
	if len(c.URLs) == 0 && c.Embedded.StoreDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return c, fmt.Errorf("natsbridge: no default store directory (%w): set Config.Embedded.StoreDir", err)
		}
		c.Embedded.StoreDir = filepath.Join(dir, "fxbus", "natsbridge", c.Name)
	}
	c.DeadLetters.Name = or(c.DeadLetters.Name, DefaultDeadLetterStream)
	if len(c.DeadLetters.Subjects) == 0 {
		c.DeadLetters.Subjects = []string{DefaultDeadLetterPrefix + ".>"}
	}
	c.DeadLetters.MaxAge = or(c.DeadLetters.MaxAge, DefaultDeadLetterMaxAge)
	for _, s := range append([]Stream{c.DeadLetters}, c.Streams...) {
		if err := validName("stream name", s.Name); err != nil {
			return c, fmt.Errorf("natsbridge: Config.Streams: %w", err)
		}
	}
	return c, nil
}

// jetstream returns the stream's configuration for the server.
func (s Stream) jetstream() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if s.Memory {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:        s.Name,
		Description: "fxbus natsbridge",
		Subjects:    s.Subjects,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     storage,
		Replicas:    or(s.Replicas, 1),
		MaxAge:      or(s.MaxAge, DefaultMaxAge),
		MaxBytes:    or(s.MaxBytes, -1),
		MaxMsgs:     or(s.MaxMsgs, -1),
		Duplicates:  or(s.Duplicates, DefaultDuplicates),
	}
}

// or returns v, or def when v is zero.
func or[V comparable](v, def V) V {
	var zero V
	if v == zero {
		return def
	}
	return v
}

// executableName is the default Config.Name: the executable's base name
// without its extension, with what NATS names forbid replaced.
func executableName() string {
	exe, err := os.Executable()
	if err != nil {
		return "fxbus"
	}
	return tokenName(strings.TrimSuffix(filepath.Base(exe), filepath.Ext(exe)))
}

// tokenName makes s usable as a stream or consumer name: every character
// other than letters, digits, '-' and '_' becomes '_'.
func tokenName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "fxbus"
	}
	return string(b)
}

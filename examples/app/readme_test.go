package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// readmeCommands returns the command lines of the README's "Across
// processes" section that start with prefix, split into words, from its sh
// code blocks.
func readmeCommands(t *testing.T, prefix string) [][]string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	section, block := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line == "## Across processes"
		case section && strings.HasPrefix(line, "```"):
			block = !block && line == "```sh"
		case section && block && strings.HasPrefix(line, prefix):
			out = append(out, strings.Fields(strings.TrimPrefix(line, prefix)))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The README's walk-through cannot drift from the app and from nats-server:
// each of its `go run ./examples/app` lines parses with the app's flags, the
// first two are one process listening and one connecting to it, and its
// nats-server lines parse with nats-server's own flags into a three-node
// JetStream cluster whose client ports the app's -nats-url lists.
func TestREADMECommandLines(t *testing.T) {
	apps := readmeCommands(t, "go run ./examples/app ")
	if len(apps) != 3 {
		t.Fatalf("found %d app command lines in README.md's Across processes, want 3: %q", len(apps), apps)
	}
	var parsed []settings
	for _, args := range apps {
		s, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatalf("README.md: go run ./examples/app %s: %v", strings.Join(args, " "), err)
		}
		if !s.Bridge.on() || s.Duration != 0 {
			t.Errorf("README.md: go run ./examples/app %s: want -duration 0 and the bridge on", strings.Join(args, " "))
		}
		parsed = append(parsed, s)
	}
	if l, u := parsed[0].Bridge.Listen, parsed[1].Bridge.URLs; l == "" || u != "nats://"+l {
		t.Errorf("README.md: the first process listens on %q, the second connects to %q", l, u)
	}

	servers := readmeCommands(t, "nats-server ")
	if len(servers) != 3 {
		t.Fatalf("found %d nats-server command lines, want 3: %q", len(servers), servers)
	}
	var clients, routes []string
	for _, args := range servers {
		o := parseServer(t, args)
		clients = append(clients, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", o.Cluster.Port))
	}
	for i, args := range servers {
		o := parseServer(t, args)
		var got []string
		for _, r := range o.Routes {
			got = append(got, r.String())
		}
		want := slices.Delete(slices.Clone(routes), i, i+1)
		if !slices.Equal(got, want) {
			t.Errorf("README.md: nats-server %s: routes %v, want the other two nodes' %v", strings.Join(args, " "), got, want)
		}
	}
	cluster := parsed[2].Bridge
	if got := strings.Split(cluster.URLs, ","); !slices.Equal(got, clients) || cluster.Replicas != 3 {
		t.Errorf("README.md: the app on the cluster has -nats-url %v and -nats-replicas %d, want %v and 3", got, cluster.Replicas, clients)
	}
}

// parseServer parses a nats-server command line with nats-server's flags
// and checks that it makes a named JetStream node of the cluster "fxbus".
func parseServer(t *testing.T, args []string) *natsserver.Options {
	t.Helper()
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	noop := func() {}
	o, err := natsserver.ConfigureOptions(fs, args, noop, noop, noop)
	if err != nil {
		t.Fatalf("README.md: nats-server %s: %v", strings.Join(args, " "), err)
	}
	if !o.JetStream || o.ServerName == "" || o.StoreDir == "" || o.Cluster.Name != "fxbus" || o.Cluster.Port == 0 || o.Port == 0 {
		t.Errorf("README.md: nats-server %s: want -js, a name, a store, the cluster fxbus and ports", strings.Join(args, " "))
	}
	return o
}

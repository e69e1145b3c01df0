package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartMovesTakenPorts: a port of a new node that another process took before the
// node started makes the harness launch it again on other ports, and the node serves on
// them; through Start, and through launch and waitListening as StartAll does.
func TestStartMovesTakenPorts(t *testing.T) {
	for _, way := range []struct {
		name  string
		start func(*Node)
		port  func(*Node) *string
	}{
		{"Start", (*Node).Start, func(n *Node) *string { return &n.IMAP }},
		{"StartAll", func(n *Node) { n.launch(); n.waitListening() }, func(n *Node) *string { return &n.POP3S }},
	} {
		t.Run(way.name, func(t *testing.T) {
			n := NewNode(t, "ports", NodeOptions{})
			taken := *way.port(n)
			l, err := net.Listen("tcp", taken)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			way.start(n)
			if *way.port(n) == taken {
				t.Fatalf("the node kept the taken port %s", taken)
			}
			c, err := net.DialTimeout("tcp", n.IMAP, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			greeting, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(greeting, "* OK") {
				t.Fatalf("IMAP greeting: %q, %v", greeting, err)
			}
		})
	}
}

package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartMovesTakenPorts: a port of a new node that another process took before the
// node started makes Start try again on other ports, and the node serves on them.
func TestStartMovesTakenPorts(t *testing.T) {
	n := NewNode(t, "ports", NodeOptions{})
	taken := n.IMAP
	l, err := net.Listen("tcp", taken)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n.Start()
	if n.IMAP == taken {
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
		t.Fatalf("IMAP greeting on the new port: %q, %v", greeting, err)
	}
}

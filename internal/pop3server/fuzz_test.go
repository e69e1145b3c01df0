package pop3server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
)

// FuzzSession feeds a whole connection arbitrary bytes over loopback TCP, against the
// real SQLite directory and store, and requires that the server neither panics nor
// hangs: after the input ends (half-close), it must close the connection. The committed
// corpus (testdata/fuzz/FuzzSession) holds the client side of the golden dialogs and the
// attacks of the reject tests; plaintext login is allowed so inputs reach TRANSACTION
// without a handshake, and STLS is offered so inputs reach it with garbage.
func FuzzSession(f *testing.F) {
	env := deliverytest.New(f, deliverytest.Options{})
	env.Domain(f, "local.test", 0, 0)
	acct := env.Account(f, "user@local.test", "user-password", 0)
	ref := deliverytest.Ref(acct)
	srv, err := New(Options{
		Hostname: "pop.test", TLSConfig: fuzzTLS(f), Directory: env.Dir, Shards: env.Shards, AllowInsecureAuth: true,
		IdleTimeout: 5 * time.Second, AuthFailDelay: -1, MaxBadCommands: 1000, MaxConnsPerIP: 1000,
	})
	if err != nil {
		f.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	f.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			f.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			f.Errorf("serve: %v", err)
		}
	})
	f.Add([]byte("USER user@local.test\r\nPASS user-password\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nQUIT\r\n"))

	f.Fuzz(func(t *testing.T, input []byte) {
		refill(t, env.Store, ref)
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := conn.Close(); err != nil {
				t.Error(err)
			}
		}()
		if err := conn.SetDeadline(time.Now().Add(deliverytest.Deadline)); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _ = conn.Write(input)             // fails once the server has closed: fine
			_ = conn.(*net.TCPConn).CloseWrite() // the server sees EOF after the input
		}()
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Fatalf("server did not close the connection after the input: %v", err)
		}
	})
}

// fuzzTLS is a throw-away self-signed certificate, so STLS inputs reach the handshake.
func fuzzTLS(f *testing.F) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// refill keeps two messages in INBOX, since inputs may DELE and QUIT.
func refill(t *testing.T, st store.Store, ref store.AccountRef) {
	ctx := context.Background()
	mb, err := st.Mailbox(ctx, ref, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	for i := mb.Messages; i < 2; i++ {
		body := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n.dot\r\nend", i)
		res, err := st.Deliver(ctx, store.Delivery{Body: bytes.NewReader([]byte(body)),
			Targets: []store.DeliveryTarget{{Account: ref}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
}

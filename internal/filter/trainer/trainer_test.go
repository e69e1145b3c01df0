package trainer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
	"mailgrid/internal/filter/bayes"
	filtersqlite "mailgrid/internal/filter/sqlite"
	"mailgrid/internal/filter/trainer"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
	storesqlite "mailgrid/internal/store/sqlite"
)

const deadline = 30 * time.Second

var spamWords = []string{"cheap pills offer", "casino bonus offer", "lottery winner offer", "free money offer", "crypto doubling offer"}
var hamWords = []string{"meeting agenda quarterly review", "project meeting notes budget", "meeting schedule for the team",
	"meeting minutes and actions", "lunch meeting tomorrow"}

func spamMsg(i int, subject string) string {
	return fmt.Sprintf("From: promo%d@deals.example\r\nTo: user@local.test\r\nSubject: %s\r\nMessage-ID: <s%d@deals.example>\r\n\r\n"+
		"Act now for %s! Click the link, unbelievable %s, limited time, viagra casino jackpot.\r\n", i, subject, i, spamWords[i], spamWords[i])
}

func hamMsg(i int) string {
	return fmt.Sprintf("From: colleague%d@work.example\r\nTo: user@local.test\r\nSubject: meeting %d\r\nMessage-ID: <h%d@work.example>\r\n\r\n"+
		"Hi, about the %s: please bring the report and the spreadsheet; the agenda is attached.\r\n", i, i, i, hamWords[i])
}

// TestJunkMovesTrain: Python's imaplib moves mail into and out of Junk and sets
// $NotJunk; the trainer, fed by the bus, trains the user's classifier, retrains a
// message the user changed their mind about, and ignores mail delivered into Junk. The
// trained classifier then tells held-out spam from ham.
func TestJunkMovesTrain(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 missing")
		}
		t.Skip("python3 missing")
	}
	ctx := context.Background()
	root := t.TempDir()
	b := bus.New()
	dir, err := dirsqlite.Open(ctx, filepath.Join(root, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	st, err := storesqlite.Open(ctx, storesqlite.Options{Dir: filepath.Join(root, "shard"), Publisher: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fdb, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(root, "filter")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fdb.Close() })
	if err := dir.CreateDomain(ctx, directory.Domain{Name: "local.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	acct, err := dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("user@local.test"), Password: "user-password"})
	if err != nil {
		t.Fatal(err)
	}
	ref := store.AccountRef{Domain: "local.test", ID: acct.ID}
	if err := st.EnsureAccount(ctx, ref); err != nil {
		t.Fatal(err)
	}
	shards := delivery.StaticShards{directory.LocalShard: st}

	var (
		mu     sync.Mutex
		events []string
		seen   = make(chan struct{}, 64)
	)
	tr := trainer.New(trainer.Options{Directory: dir, Shards: shards, Tokens: fdb, Log: fdb,
		Trained: func(_ store.AccountRef, blob string, c bayes.Class) {
			mu.Lock()
			events = append(events, c.String())
			mu.Unlock()
			seen <- struct{}{}
		}})
	stop := b.Observe(tr.Observe)
	defer stop()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { tr.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()

	put := func(mailbox, msg string) {
		t.Helper()
		res, err := st.Deliver(ctx, store.Delivery{Body: delivery.Bytes(msg), Targets: []store.DeliveryTarget{{Account: ref, Mailbox: mailbox}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
	put("INBOX", spamMsg(0, "offer number one"))
	put("INBOX", spamMsg(1, "special offer"))
	put("INBOX", spamMsg(2, "exclusive offer"))
	for i := range 3 {
		put("INBOX", hamMsg(i))
	}
	put("Junk", hamMsg(3)) // filed by the filters at delivery: no training

	addr := imapServer(t, dir, shards, b)
	host, port, _ := net.SplitHostPort(addr)
	cctx, ccancel := context.WithTimeout(ctx, deadline)
	defer ccancel()
	out, err := exec.CommandContext(cctx, py, "testdata/judge.py", host, port, "user@local.test", "user-password").CombinedOutput()
	if err != nil {
		t.Fatalf("judge.py: %v\n%s", err, out)
	}

	// 3 spam (moves into Junk), 2 ham ($NotJunk), 1 ham (h4 out of Junk), 1 ham (s1
	// retrained after moving back).
	timeout := time.After(deadline)
	for range 7 {
		select {
		case <-seen:
		case <-timeout:
			mu.Lock()
			t.Fatalf("trained %v, want 7 judgements", events)
		}
	}
	mu.Lock()
	got := strings.Join(events, ",")
	mu.Unlock()
	if strings.Count(got, "spam") != 3 || strings.Count(got, "ham") != 4 {
		t.Errorf("judgements %s", got)
	}
	tot, err := fdb.Tokens(ref).Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot != (bayes.Counts{Spam: 2, Ham: 4}) {
		t.Errorf("totals %+v, want spam 2 (s1 untrained) and ham 4", tot)
	}
	c := bayes.New(fdb.Tokens(ref), bayes.Options{MinTrained: 2})
	vs, err := c.Classify(ctx, delivery.Bytes(spamMsg(3, "amazing offer")))
	if err != nil {
		t.Fatal(err)
	}
	vh, err := c.Classify(ctx, delivery.Bytes(hamMsg(4)))
	if err != nil {
		t.Fatal(err)
	}
	if !vs.Ready || !vh.Ready || vs.Prob <= 0.5 || vh.Prob >= 0.5 {
		t.Errorf("held-out spam %.3f, ham %.3f (ready %v %v)", vs.Prob, vh.Prob, vs.Ready, vh.Ready)
	}
	t.Logf("held-out spam prob %.3f, ham prob %.3f", vs.Prob, vh.Prob)
}

func imapServer(t *testing.T, dir directory.Directory, shards store.Shards, b *bus.Bus) string {
	t.Helper()
	srv, err := imapserver.New(imapserver.Options{Hostname: "imap.test", TLSConfig: tlsConfig(t), ImplicitTLS: true,
		Directory: dir, Shards: shards, Bus: b, FailedLoginDelay: -1, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

func tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.test"},
		DNSNames: []string{"imap.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

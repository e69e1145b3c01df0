package mailets_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/mail"
	"mailgrid/internal/mailauth"
	"mailgrid/internal/message/body"
)

// TestDKIMSignRemote: a submission of an account whose domain has keys is queued with
// one valid signature per active key (verified by go-msgauth against the records the
// store publishes); an account of a domain without keys and mail from the Internet are
// queued unsigned.
func TestDKIMSignRemote(t *testing.T) {
	ctx := context.Background()
	keys := dkimkeys.OpenDir(filepath.Join(t.TempDir(), "dkim"), dkimkeys.Options{})
	if _, err := keys.Rotate(ctx, "local.test"); err != nil {
		t.Fatal(err)
	}
	e := stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageRemote, filter.Rule{Mailet: &mailets.DKIMSign{Keys: keys}, Policy: filter.FailOpen})
	})
	e.Domain(t, "other.test", 0, 0)
	alice := e.Account(t, "alice@local.test", "pw", 0)
	olga := e.Account(t, "olga@other.test", "pw", 0)
	msg := "From: Alice <alice@local.test>\r\nTo: bob@remote.example\r\nSubject: signed\r\n" +
		"Date: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <1@local.test>\r\n\r\nHello,\r\nBob.\r\n"

	env := envTo("alice@local.test", "bob@remote.example")
	env.Account = &alice
	if reply, _ := deliver(t, e, env, msg); reply != nil {
		t.Fatalf("submission refused: %v", reply)
	}
	env = envTo("olga@other.test", "bob@remote.example")
	env.Account = &olga
	if reply, _ := deliver(t, e, env, strings.Replace(msg, "alice@local.test", "olga@other.test", 1)); reply != nil {
		t.Fatalf("submission refused: %v", reply)
	}

	items := e.QueueItems(t)
	if len(items) != 2 {
		t.Fatalf("%d queued, want 2", len(items))
	}
	recs, err := keys.Records(ctx, "local.test")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) ([]string, error) {
		for _, r := range recs {
			if r.Name == name {
				return []string{r.TXT}, nil
			}
		}
		return nil, &dkimNotFound{name}
	}
	for _, it := range items {
		signed := bytes.Contains(it.Body, []byte("DKIM-Signature:"))
		switch _, dom, _ := strings.Cut(it.Envelope.From, "@"); dom {
		case "other.test":
			if signed {
				t.Errorf("mail of a domain without keys was signed:\n%s", it.Body)
			}
		case "local.test":
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(it.Body), &dkim.VerifyOptions{LookupTXT: lookup})
			if err != nil || len(vs) != 2 {
				t.Fatalf("verify: %v, %d signatures:\n%s", err, len(vs), it.Body)
			}
			for _, v := range vs {
				if v.Err != nil || v.Domain != "local.test" {
					t.Errorf("signature %+v: %v", v, v.Err)
				}
			}
		default:
			t.Errorf("unexpected queued sender %s", it.Envelope.From)
		}
	}
}

// TestDKIMSignOnlySubmissions: the mailet leaves mail without an authenticated submitter
// alone, even from a domain with keys.
func TestDKIMSignOnlySubmissions(t *testing.T) {
	ctx := context.Background()
	keys := dkimkeys.OpenDir(filepath.Join(t.TempDir(), "dkim"), dkimkeys.Options{})
	if _, err := keys.Rotate(ctx, "local.test", mailauth.DKIMEd25519); err != nil {
		t.Fatal(err)
	}
	msg := filter.NewMessage(body.Bytes("From: a@local.test\r\nSubject: x\r\n\r\nhi\r\n"))
	env := &filter.Envelope{From: mail.MustParse("a@local.test")}
	m := filter.NewMail(filter.StageRemote, env, msg, []*filter.Recipient{{Addr: mail.MustParse("b@remote.example")}})
	if err := (&mailets.DKIMSign{Keys: keys}).Service(ctx, m); err != nil {
		t.Fatal(err)
	}
	if sigs, err := msg.Header("DKIM-Signature"); err != nil || len(sigs) != 0 || msg.Edits() != 0 {
		t.Fatalf("unauthenticated mail signed: %v %v", sigs, err)
	}
}

type dkimNotFound struct{ name string }

func (e *dkimNotFound) Error() string { return "no record " + e.name }

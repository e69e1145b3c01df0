package admin_test

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	mgmail "mailgrid/internal/mail"
)

// An import is checked whole: one bad row (syntax, another domain, a taken address, a
// role above the importer's, the domain's user limit) refuses the file with its line
// numbers and creates nothing; a good file creates every account, with a bcrypt hash
// imported as it is; the export lists them without secrets.
func TestImportExportAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	da := f.svc.As(f.daA)
	hash, err := bcrypt.GenerateFromPassword([]byte("imported secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		as, err := f.env.Dir.Accounts(ctx, "a.example")
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	n0 := count()
	for name, file := range map[string]string{
		"no header":        "",
		"unknown column":   "address,password,shoe_size\nx@a.example,pw pw pw,42\n",
		"bad address":      "address,password\nnot an address,pw pw pw\n",
		"other domain":     "address,password\nx@b.example,pw pw pw\n",
		"no password":      "address,quota\nx@a.example,1G\n",
		"bad quota":        "address,password,quota\nx@a.example,pw pw pw,lots\n",
		"bad hash":         "address,password_hash\nx@a.example,plaintext\n",
		"twice":            "address,password\nx@a.example,pw pw pw\nX@a.example,pw pw pw\n",
		"taken":            "address,password\nnew@a.example,pw pw pw\nu1@a.example,pw pw pw\n",
		"alias taken":      "address,password\nnew@a.example,pw pw pw\n",
		"role too high":    "address,password,role\nnew@a.example,pw pw pw,system-admin\n",
		"quota over limit": "address,password,quota\nnew@a.example,pw pw pw,2G\n",
	} {
		if name == "alias taken" {
			if _, err := f.svc.As(f.sys).CreateAlias(ctx, "a.example", "new@a.example", []string{"u1@a.example"}); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := admin.ParseAccountsCSV(strings.NewReader(file), "a.example")
		if err == nil {
			_, err = da.ImportAccounts(ctx, "a.example", rows)
		}
		if err == nil || !strings.Contains(err.Error(), "line") && name != "no header" {
			t.Errorf("%s: %v, want an error naming the line", name, err)
		}
		if name == "alias taken" {
			if err := f.svc.As(f.sys).DeleteAlias(ctx, "a.example", "new@a.example"); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(); n != n0 {
			t.Fatalf("%s: refused import created accounts (%d -> %d)", name, n0, n)
		}
	}
	// Another tenant's domain is not found.
	if _, err := da.ImportAccounts(ctx, "b.example", []admin.ImportRow{{Line: 2}}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("import into B: %v", err)
	}

	file := "\ufeffAddress,Password,password_hash,Quota,Role,disabled_services\n" +
		"ann@a.example,ann password 1,,100M,,pop3\n" +
		"\n" +
		"\"\"\"Bo Bo\"\"@a.example\",,\"" + string(hash) + "\",,user,\n" +
		"cy@a.example,cy password 1,,,domain-admin,imap;pop3\n"
	rows, err := admin.ParseAccountsCSV(strings.NewReader(file), "a.example")
	if err != nil {
		t.Fatal(err)
	}
	created, err := da.ImportAccounts(ctx, "a.example", rows)
	if err != nil || len(created) != 3 {
		t.Fatalf("import: %d %v", len(created), err)
	}
	ann, err := f.env.Dir.Authenticate(ctx, "ann@a.example", "ann password 1")
	if err != nil || ann.QuotaBytes != 100<<20 || strings.Join(ann.DisabledServices, ",") != "pop3" {
		t.Errorf("ann: %+v %v", ann, err)
	}
	if _, err := f.env.Dir.Authenticate(ctx, `"Bo Bo"@a.example`, "imported secret"); err != nil {
		t.Errorf("imported bcrypt hash: %v", err)
	}
	if cy, err := f.env.Dir.Account(ctx, mgmail.MustParse("cy@a.example")); err != nil || cy.Role != directory.RoleDomainAdmin {
		t.Errorf("cy: %+v %v", cy, err)
	}
	if es, err := da.Audit(ctx, directory.AuditQuery{Action: "domain.import"}); err != nil || len(es) != 1 {
		t.Errorf("audit: %+v %v", es, err)
	}

	var out bytes.Buffer
	if err := da.ExportAccounts(ctx, "a.example", &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "address,role,enabled,quota_bytes,") || !strings.Contains(s, "ann@a.example,user,true,104857600,0,pop3,,") ||
		!strings.Contains(s, `"""Bo Bo""@a.example"`) || strings.Contains(s, "$2") || strings.Contains(s, "argon2") {
		t.Errorf("export:\n%s", s)
	}
	if err := da.ExportAccounts(ctx, "b.example", &out); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("export B: %v", err)
	}
}

// A broadcast is stored for every enabled account of the domain (and no other), with
// the actor as sender and an encoded subject; a user may not broadcast, a domain admin
// not to another domain; an account over quota is reported.
func TestBroadcast(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	da := f.svc.As(f.daA)
	off := false
	if _, err := f.env.Dir.UpdateAccount(ctx, f.userA2.Address, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	res, err := da.Broadcast(ctx, "a.example", "Wartung am Sonntag – 2 Uhr", "Liebe Nutzer,\nder Server wird neu gestartet.\n")
	if err != nil {
		t.Fatal(err)
	}
	// da@ and u1@ (u2@ is disabled).
	if res.Delivered != 2 || len(res.Failed) != 0 || res.MessageID == "" {
		t.Fatalf("result %+v", res)
	}
	got := f.env.Messages(t, f.userA, "")
	if len(got) != 1 {
		t.Fatalf("u1@a.example has %d messages", len(got))
	}
	m, err := mail.ReadMessage(bytes.NewReader(got[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mimeDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != "Wartung am Sonntag – 2 Uhr" || m.Header.Get("From") != "da@a.example" || m.Header.Get("Message-Id") != res.MessageID {
		t.Errorf("headers: %v subject %q %v", m.Header, subj, err)
	}
	if n := len(f.env.Messages(t, f.userA2, "")); n != 0 {
		t.Errorf("disabled account got %d", n)
	}
	if n := len(f.env.Messages(t, f.userB, "")); n != 0 {
		t.Errorf("b.example got %d", n)
	}
	if _, err := da.Broadcast(ctx, "b.example", "x", "y"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("broadcast to B: %v", err)
	}
	user := f.svc.As(admin.Actor{Account: f.userA, Via: "api"})
	if _, err := user.Broadcast(ctx, "a.example", "x", "y"); err == nil {
		t.Error("a user broadcast")
	}
	for _, bad := range [][2]string{{"", "body"}, {"two\r\nlines", "body"}, {"subject", " "}} {
		if _, err := da.Broadcast(ctx, "a.example", bad[0], bad[1]); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("broadcast %q: %v", bad, err)
		}
	}
	// Over quota: reported, the others still get it.
	tiny := int64(10)
	if _, err := f.env.Dir.UpdateAccount(ctx, f.userA.Address, directory.AccountUpdate{QuotaBytes: &tiny}); err != nil {
		t.Fatal(err)
	}
	res, err = da.Broadcast(ctx, "a.example", "again", "text")
	if err != nil || res.Delivered != 1 || len(res.Failed) != 1 || res.Failed[0] != "u1@a.example" {
		t.Errorf("over quota: %+v %v", res, err)
	}
}

type mimeDecoder = mime.WordDecoder

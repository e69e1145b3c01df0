package storetest

import (
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/store"
)

func testEnsureAccount(t *testing.T, h *harness) {
	a := acct("example.com", 1)
	if _, err := h.s.Mailboxes(h.ctx, a); !isNotFound(err) {
		t.Errorf("Mailboxes of unknown account: %v, want ErrNotFound", err)
	}
	if _, err := h.s.Usage(h.ctx, a); !isNotFound(err) {
		t.Errorf("Usage of unknown account: %v, want ErrNotFound", err)
	}
	h.account("example.com", 1)
	first, err := h.s.Mailboxes(h.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	created := h.changes(len(store.DefaultMailboxes))
	if len(created) != len(store.DefaultMailboxes) {
		t.Errorf("EnsureAccount published %d changes, want %d", len(created), len(store.DefaultMailboxes))
	}
	for _, c := range created {
		if c.Kind != store.MailboxCreated || c.Account != a || c.Mailbox == 0 || c.Name == "" {
			t.Errorf("EnsureAccount change %+v", c)
		}
	}
	if !slices.IsSortedFunc(first, func(x, y store.Mailbox) int { return strings.Compare(x.Name, y.Name) }) {
		t.Errorf("Mailboxes not ordered by name: %v", names(first))
	}
	for _, d := range store.DefaultMailboxes {
		i := slices.IndexFunc(first, func(m store.Mailbox) bool { return m.Name == d.Name })
		if i < 0 {
			t.Errorf("default mailbox %q missing", d.Name)
			continue
		}
		m := first[i]
		if m.SpecialUse != d.SpecialUse || !m.Subscribed || m.UIDValidity == 0 || m.UIDNext != 1 || m.Messages != 0 {
			t.Errorf("default mailbox %+v", m)
		}
	}
	// Idempotent: the same mailboxes, same IDs and UIDVALIDITY, no changes published.
	h.account("example.com", 1)
	h.account("example.com", 1)
	again, err := h.s.Mailboxes(h.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, again) {
		t.Errorf("EnsureAccount again changed mailboxes:\n%+v\n%+v", first, again)
	}
	if c := h.pub.take(); len(c) != 0 {
		t.Errorf("idempotent EnsureAccount published %+v", c)
	}
	if m := h.mailbox(a, "iNbOx"); m.Name != store.Inbox {
		t.Errorf(`Mailbox("iNbOx").Name = %q`, m.Name)
	}
	// A default mailbox renamed keeps its role; EnsureAccount does not add a second one.
	if err := h.s.RenameMailbox(h.ctx, a, "Junk", "Spam"); err != nil {
		t.Fatal(err)
	}
	h.account("example.com", 1)
	if _, err := h.s.Mailbox(h.ctx, a, "Junk"); !isNotFound(err) {
		t.Errorf("EnsureAccount re-created Junk while Spam holds \\Junk: %v", err)
	}
	// A deleted default mailbox is re-created.
	if err := h.s.DeleteMailbox(h.ctx, a, "Drafts"); err != nil {
		t.Fatal(err)
	}
	h.account("example.com", 1)
	if m := h.mailbox(a, "Drafts"); m.SpecialUse != store.Drafts {
		t.Errorf("re-created Drafts: %+v", m)
	}
	if err := h.s.EnsureAccount(h.ctx, acct("", 1)); !isInvalid(err) {
		t.Errorf("EnsureAccount without domain: %v, want ErrInvalid", err)
	}
	h.consistent(a)
}

func testMailboxNames(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	for _, bad := range []string{"", "/", "a/", "/a", "a//b", ".", "a/../b", "x*", "y%", "c\x01", "\xff"} {
		_, err := h.s.CreateMailbox(h.ctx, a, bad, "")
		if !isInvalid(err) {
			t.Errorf("CreateMailbox(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := h.s.CreateMailbox(h.ctx, a, "ok", `\Bogus`); !isInvalid(err) {
		t.Errorf("CreateMailbox with unknown special-use: %v, want ErrInvalid", err)
	}
	if err := h.s.RenameMailbox(h.ctx, a, "Archive", "a//b"); !isInvalid(err) {
		t.Errorf("RenameMailbox to a bad name: %v, want ErrInvalid", err)
	}
	for _, good := range []string{"Ünïcødé", "日本語/メール", "with space", "a.b", strings.Repeat("x", 255)} {
		if m := h.create(a, good); m.Name != good {
			t.Errorf("CreateMailbox(%q).Name = %q", good, m.Name)
		}
	}
	// INBOX is case-insensitive, also as the first component of a child.
	if m := h.create(a, "inbox/Sub"); m.Name != "INBOX/Sub" {
		t.Errorf(`CreateMailbox("inbox/Sub").Name = %q`, m.Name)
	}
	if _, err := h.s.CreateMailbox(h.ctx, a, "Inbox", ""); !isExists(err) {
		t.Errorf(`CreateMailbox("Inbox"): %v, want ErrExists`, err)
	}
}

func testCreateMailbox(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.pub.take()
	m, err := h.s.CreateMailbox(h.ctx, a, "Lists/go/nuts", `\Archive`)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Lists/go/nuts" || m.SpecialUse != store.Archive || m.UIDNext != 1 || m.UIDValidity == 0 {
		t.Errorf("created %+v", m)
	}
	for _, parent := range []string{"Lists", "Lists/go"} {
		h.mailbox(a, parent) // parents created
	}
	ch := h.changes(3)
	if len(ch) != 3 || ch[2].Name != "Lists/go/nuts" || ch[2].Mailbox != m.ID {
		t.Errorf("changes %+v", ch)
	}
	if _, err := h.s.CreateMailbox(h.ctx, a, "Lists/go/nuts", ""); !isExists(err) {
		t.Errorf("create again: %v, want ErrExists", err)
	}
	if _, err := h.s.CreateMailbox(h.ctx, acct("example.com", 99), "X", ""); !isNotFound(err) {
		t.Errorf("create for unknown account: %v, want ErrNotFound", err)
	}
	if _, err := h.s.Mailbox(h.ctx, a, "Nope"); !isNotFound(err) {
		t.Errorf("Mailbox(Nope): %v, want ErrNotFound", err)
	}
}

func testRenameMailbox(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	work := h.create(a, "Work")
	child := h.create(a, "Work/Projects/Alpha")
	uids := h.deliverN(a, "Work/Projects/Alpha", 3)
	h.pub.take()

	if err := h.s.RenameMailbox(h.ctx, a, "Work", "Jobs/Old"); err != nil {
		t.Fatalf("RenameMailbox: %v", err)
	}
	moved := h.mailbox(a, "Jobs/Old/Projects/Alpha")
	if moved.ID != child.ID || moved.UIDValidity != child.UIDValidity || moved.Messages != 3 {
		t.Errorf("renamed child %+v, was %+v", moved, child)
	}
	if got := uidsOf(h.messages(a, moved.ID, store.Query{})); !slices.Equal(got, uids) {
		t.Errorf("UIDs after rename %v, want %v", got, uids)
	}
	if m := h.mailbox(a, "Jobs/Old"); m.ID != work.ID || m.UIDValidity != work.UIDValidity {
		t.Errorf("renamed mailbox %+v, was %+v", m, work)
	}
	h.mailbox(a, "Jobs") // parent of the new name created
	for _, old := range []string{"Work", "Work/Projects", "Work/Projects/Alpha"} {
		if _, err := h.s.Mailbox(h.ctx, a, old); !isNotFound(err) {
			t.Errorf("old name %q still there: %v", old, err)
		}
	}
	var renamed []string
	for _, c := range h.changes(4) {
		if c.Kind == store.MailboxRenamed {
			renamed = append(renamed, c.OldName+">"+c.Name)
		}
	}
	want := []string{"Work>Jobs/Old", "Work/Projects>Jobs/Old/Projects", "Work/Projects/Alpha>Jobs/Old/Projects/Alpha"}
	if !slices.Equal(renamed, want) {
		t.Errorf("rename changes %v, want %v", renamed, want)
	}

	wantErr(t, "rename INBOX", h.s.RenameMailbox(h.ctx, a, "inbox", "Old"), store.ErrProtected)
	wantErr(t, "rename onto existing", h.s.RenameMailbox(h.ctx, a, "Jobs", "Archive"), store.ErrExists)
	wantErr(t, "rename onto INBOX", h.s.RenameMailbox(h.ctx, a, "Jobs", "INBOX"), store.ErrExists)
	wantErr(t, "rename missing", h.s.RenameMailbox(h.ctx, a, "Nope", "Nope2"), store.ErrNotFound)
	wantErr(t, "rename under itself", h.s.RenameMailbox(h.ctx, a, "Jobs", "Jobs/Sub"), store.ErrInvalid)
	h.create(a, "INBOX/Child")
	if err := h.s.RenameMailbox(h.ctx, a, "INBOX/Child", "Child"); err != nil {
		t.Errorf("rename a child of INBOX: %v", err)
	}
	h.consistent(a)
}

func testDeleteMailbox(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	parent := h.create(a, "P")
	child := h.create(a, "P/C")
	h.deliverN(a, "P", 2)
	h.deliverN(a, "P/C", 3)
	h.pub.take()
	wantErr(t, "delete with children", h.s.DeleteMailbox(h.ctx, a, "P"), store.ErrHasChildren)
	wantErr(t, "delete INBOX", h.s.DeleteMailbox(h.ctx, a, "Inbox"), store.ErrProtected)
	wantErr(t, "delete missing", h.s.DeleteMailbox(h.ctx, a, "Nope"), store.ErrNotFound)
	if err := h.s.DeleteMailbox(h.ctx, a, "P/C"); err != nil {
		t.Fatal(err)
	}
	if err := h.s.DeleteMailbox(h.ctx, a, "P"); err != nil {
		t.Fatal(err)
	}
	ch := h.changes(2)
	if len(ch) != 2 || ch[0].Kind != store.MailboxDeleted || ch[0].Mailbox != child.ID ||
		ch[1].Mailbox != parent.ID || ch[1].Name != "P" {
		t.Errorf("delete changes %+v", ch)
	}
	if u, err := h.s.Usage(h.ctx, a); err != nil || u.Messages != 0 || u.Bytes != 0 {
		t.Errorf("usage after deleting every message's mailbox: %+v %v", u, err)
	}
	var n int
	err := h.s.Messages(h.ctx, a, parent.ID, store.Query{}, func(store.Message) error { n++; return nil })
	if !isNotFound(err) {
		t.Errorf("Messages of deleted mailbox: %v (%d messages), want ErrNotFound", err, n)
	}
	h.consistent(a)
}

func testSubscribe(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	m := h.create(a, "News")
	if m.Subscribed {
		t.Errorf("new mailbox subscribed")
	}
	if err := h.s.SetSubscribed(h.ctx, a, "News", true); err != nil {
		t.Fatal(err)
	}
	if !h.mailbox(a, "News").Subscribed {
		t.Errorf("not subscribed after SetSubscribed(true)")
	}
	if err := h.s.SetSubscribed(h.ctx, a, "News", false); err != nil {
		t.Fatal(err)
	}
	if h.mailbox(a, "News").Subscribed {
		t.Errorf("subscribed after SetSubscribed(false)")
	}
	wantErr(t, "subscribe missing", h.s.SetSubscribed(h.ctx, a, "Nope", true), store.ErrNotFound)
}

func names(boxes []store.Mailbox) []string {
	out := make([]string, len(boxes))
	for i, m := range boxes {
		out[i] = m.Name
	}
	return out
}

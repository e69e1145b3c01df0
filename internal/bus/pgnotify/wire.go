package pgnotify

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"mailgrid/internal/store"
)

// Channel is the PostgreSQL notification channel store drivers notify on.
const Channel = "mailgrid_changes"

// MaxPayload bounds one notification payload in bytes. PostgreSQL refuses a payload of
// 8000 bytes or more (NOTIFY, "in the default configuration it must be shorter than 8000
// bytes"); the margin leaves room for nothing else, the bound is simply kept below it.
const MaxPayload = 7900

// maxPayloads bounds the notifications of one transaction. A transaction whose changes
// need more (an expunge of tens of thousands of messages) sends resync markers for its
// accounts instead: every session of those accounts recomputes its view once, which is
// cheaper for everyone than tens of thousands of single events.
const maxPayloads = 64

// Notification is one decoded payload.
type Notification struct {
	Origin  string             // the node (store) that committed the changes
	Changes []store.Change     // in commit order
	Resync  []store.AccountRef // accounts whose changes were too many or too big to send
}

// wireNote is the JSON of a payload: {"o":origin,"c":[changes],"r":[accounts]}.
type wireNote struct {
	O string       `json:"o"`
	C []wireChange `json:"c,omitempty"`
	R []wireAcct   `json:"r,omitempty"`
}

// wireChange is a store.Change with short keys: payloads are small and many.
type wireChange struct {
	K store.ChangeKind `json:"k"`
	D string           `json:"d"`
	A int64            `json:"a"`
	M int64            `json:"m,omitempty"`
	U uint32           `json:"u,omitempty"`
	S uint64           `json:"s,omitempty"`
	F []string         `json:"f,omitempty"`
	N string           `json:"n,omitempty"`
	P string           `json:"p,omitempty"` // previous name (MailboxRenamed)
}

type wireAcct struct {
	D string `json:"d"`
	A int64  `json:"a"`
}

// NewOrigin returns a random origin id for a node: 16 hex digits.
func NewOrigin() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Payloads encodes changes, in order, into payloads of at most MaxPayload bytes for
// pg_notify(Channel, payload). A change that does not fit in a payload on its own, or a
// change list needing more than a few dozen payloads, is sent as resync markers for the
// accounts concerned instead. An empty list gives no payloads.
func Payloads(origin string, changes []store.Change) ([]string, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	head, err := json.Marshal(origin)
	if err != nil {
		return nil, err
	}
	prefix := `{"o":` + string(head) + `,"c":[`
	var (
		out    []string
		cur    strings.Builder
		resync []store.AccountRef
	)
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, prefix+cur.String()+"]}")
			cur.Reset()
		}
	}
	for _, c := range changes {
		item, err := json.Marshal(toWire(c))
		if err != nil {
			return nil, err
		}
		if len(prefix)+len(item)+2 > MaxPayload {
			resync = append(resync, c.Account) // alone too big: a flag list of hundreds of keywords
			continue
		}
		if len(prefix)+cur.Len()+1+len(item)+2 > MaxPayload {
			flush()
		}
		if cur.Len() > 0 {
			cur.WriteByte(',')
		}
		cur.Write(item)
	}
	flush()
	if len(out) > maxPayloads {
		out = nil
		for _, c := range changes {
			resync = append(resync, c.Account)
		}
	}
	markers, err := resyncPayloads(string(head), resync)
	if err != nil {
		return nil, err
	}
	return append(out, markers...), nil
}

// resyncPayloads encodes resync markers for the distinct accounts of accts.
func resyncPayloads(origin string, accts []store.AccountRef) ([]string, error) {
	slices.SortFunc(accts, compareAccounts)
	accts = slices.Compact(accts)
	prefix := `{"o":` + origin + `,"r":[`
	var out []string
	var cur strings.Builder
	for _, a := range accts {
		item, err := json.Marshal(wireAcct{D: a.Domain, A: a.ID})
		if err != nil {
			return nil, err
		}
		if len(prefix)+cur.Len()+1+len(item)+2 > MaxPayload && cur.Len() > 0 {
			out = append(out, prefix+cur.String()+"]}")
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(',')
		}
		cur.Write(item)
	}
	if cur.Len() > 0 {
		out = append(out, prefix+cur.String()+"]}")
	}
	return out, nil
}

func compareAccounts(x, y store.AccountRef) int {
	if c := strings.Compare(x.Domain, y.Domain); c != 0 {
		return c
	}
	switch {
	case x.ID < y.ID:
		return -1
	case x.ID > y.ID:
		return 1
	}
	return 0
}

func toWire(c store.Change) wireChange {
	return wireChange{K: c.Kind, D: c.Account.Domain, A: c.Account.ID, M: int64(c.Mailbox), U: uint32(c.UID),
		S: c.ModSeq, F: c.Flags, N: c.Name, P: c.OldName}
}

// Decode parses a payload made by Payloads.
func Decode(payload string) (Notification, error) {
	var w wireNote
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return Notification{}, fmt.Errorf("pgnotify: bad payload: %w", err)
	}
	n := Notification{Origin: w.O}
	for _, c := range w.C {
		if c.D == "" || c.K < store.MessageAdded || (c.K > store.MailboxDeleted && !c.K.EndsSessions()) {
			return Notification{}, fmt.Errorf("pgnotify: bad change %+v in payload", c)
		}
		ch := store.Change{Kind: c.K, Account: store.AccountRef{Domain: c.D, ID: c.A},
			Mailbox: store.MailboxID(c.M), UID: store.UID(c.U), ModSeq: c.S, Flags: c.F, Name: c.N, OldName: c.P}
		if ch.Flags == nil && (c.K == store.MessageAdded || c.K == store.FlagsChanged) {
			ch.Flags = []string{} // no flags, as the committing node published it
		}
		n.Changes = append(n.Changes, ch)
	}
	for _, a := range w.R {
		n.Resync = append(n.Resync, store.AccountRef{Domain: a.D, ID: a.A})
	}
	return n, nil
}

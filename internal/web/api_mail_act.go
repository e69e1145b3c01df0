package web

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	netmail "net/mail"
	"slices"
	"strconv"
	"strings"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// Changes through the mail API: flags, move, delete, send. Each names a mailbox and the
// UIDs of its messages; every UID must exist or nothing changes (404).

// maxSelection bounds the UIDs of one change.
const maxSelection = 1000

// selectionJSON is the messages a change applies to.
type selectionJSON struct {
	Mailbox store.MailboxID `json:"mailbox"`
	UIDs    []store.UID     `json:"uids"`
}

// resolve checks the selection: the caller's mailbox, 1..maxSelection UIDs that all exist
// in it. The UIDs come back sorted without duplicates.
func (m *mailAPI) resolve(ctx context.Context, c *mailCtx, sel selectionJSON) (store.Mailbox, []store.UID, error) {
	mb, err := apiMailbox(c, strconv.FormatInt(int64(sel.Mailbox), 10))
	if err != nil {
		return mb, nil, err
	}
	if len(sel.UIDs) == 0 || len(sel.UIDs) > maxSelection {
		return mb, nil, apiErr(http.StatusBadRequest, "invalid", "uids: 1 to %d UIDs", maxSelection)
	}
	uids := slices.Clone(sel.UIDs)
	slices.Sort(uids)
	uids = slices.Compact(uids)
	if uids[0] == 0 {
		return mb, nil, errNotFound()
	}
	found := 0
	err = c.st.Messages(ctx, c.ref, mb.ID, store.Query{MinUID: uids[0], MaxUID: uids[len(uids)-1], NoMeta: true},
		func(msg store.Message) error {
			if _, ok := slices.BinarySearch(uids, msg.UID); ok {
				found++
			}
			return nil
		})
	if err != nil {
		return mb, nil, m.storeErr(err)
	}
	if found != len(uids) {
		return mb, nil, errNotFound()
	}
	return mb, uids, nil
}

// flagsRequest adds and removes flags (system flags and keywords, RFC 9051 2.3.2).
type flagsRequest struct {
	selectionJSON
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// uidFlags is a message's flags after a change.
type uidFlags struct {
	UID   store.UID `json:"uid"`
	Flags []string  `json:"flags"`
}

// flags changes flags (POST /api/v1/mail/messages/flags).
func (m *mailAPI) flags(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	var req flagsRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	add, err := store.NormalizeFlags(req.Add)
	if err == nil {
		req.Remove, err = store.NormalizeFlags(req.Remove)
	}
	if err != nil || len(add)+len(req.Remove) == 0 {
		return apiErr(http.StatusBadRequest, "invalid", "add, remove: flags such as \\Seen, \\Flagged or keywords (at least one)")
	}
	mb, uids, err := m.resolve(r.Context(), c, req.selectionJSON)
	if err != nil {
		return err
	}
	changed := map[store.UID][]string{}
	for _, u := range []store.FlagUpdate{{UIDs: uids, Op: store.FlagsAdd, Flags: add}, {UIDs: uids, Op: store.FlagsRemove, Flags: req.Remove}} {
		if len(u.Flags) == 0 {
			continue
		}
		res, err := c.st.StoreFlags(r.Context(), c.ref, mb.ID, u)
		if err != nil {
			return m.storeErr(err)
		}
		for _, msg := range res.Changed {
			changed[msg.UID] = msg.Flags
		}
	}
	out := []uidFlags{}
	for _, u := range uids {
		if f, ok := changed[u]; ok {
			out = append(out, uidFlags{UID: u, Flags: slicesOrEmpty(f)})
		}
	}
	m.s.writeJSON(w, http.StatusOK, map[string]any{"changed": out})
	return nil
}

// movedJSON maps a moved message's old UID to its UID in the destination (RFC 4315
// COPYUID).
type movedJSON struct {
	UID    store.UID `json:"uid"`
	NewUID store.UID `json:"new_uid"`
}

func movedOf(pairs []store.UIDPair) []movedJSON {
	out := make([]movedJSON, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, movedJSON{UID: p.Src, NewUID: p.Dst})
	}
	return out
}

// moveRequest moves messages to another of the caller's mailboxes.
type moveRequest struct {
	selectionJSON
	To store.MailboxID `json:"to"`
}

// move moves messages (POST /api/v1/mail/messages/move, RFC 6851 semantics).
func (m *mailAPI) move(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	var req moveRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	mb, uids, err := m.resolve(r.Context(), c, req.selectionJSON)
	if err != nil {
		return err
	}
	dest, err := apiMailbox(c, strconv.FormatInt(int64(req.To), 10))
	if err != nil {
		return err
	}
	if dest.ID == mb.ID {
		return apiErr(http.StatusBadRequest, "invalid", "to: the messages are already in that mailbox")
	}
	pairs, err := c.st.Move(r.Context(), c.ref, mb.ID, uids, dest.ID)
	if err != nil {
		return m.storeErr(err)
	}
	m.s.writeJSON(w, http.StatusOK, map[string]any{"mailbox": dest.ID, "moved": movedOf(pairs)})
	return nil
}

// deleteRequest deletes messages: to Trash, or for good when permanent or already in
// Trash.
type deleteRequest struct {
	selectionJSON
	Permanent bool `json:"permanent"`
}

// delete deletes messages (POST /api/v1/mail/messages/delete).
func (m *mailAPI) delete(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	var req deleteRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	mb, uids, err := m.resolve(r.Context(), c, req.selectionJSON)
	if err != nil {
		return err
	}
	trash, hasTrash := c.special(store.Trash)
	if !req.Permanent && (!hasTrash || trash.ID != mb.ID) {
		if !hasTrash {
			return apiErr(http.StatusConflict, "no_trash", "there is no Trash mailbox; delete permanently instead")
		}
		pairs, err := c.st.Move(r.Context(), c.ref, mb.ID, uids, trash.ID)
		if err != nil {
			return m.storeErr(err)
		}
		m.s.writeJSON(w, http.StatusOK, map[string]any{"mailbox": trash.ID, "moved": movedOf(pairs), "deleted": []store.UID{}})
		return nil
	}
	gone, err := c.st.Expunge(r.Context(), c.ref, mb.ID, uids)
	if err != nil {
		return m.storeErr(err)
	}
	m.s.writeJSON(w, http.StatusOK, map[string]any{"moved": []movedJSON{}, "deleted": slicesOrEmpty(gone)})
	return nil
}

// sendRequest is a message to send. Attachments travel base64 in the JSON body, whose
// size the API bounds (1 MiB).
type sendRequest struct {
	From        string           `json:"from"` // one of the caller's identities; "" = its address
	To          []string         `json:"to"`
	Cc          []string         `json:"cc"`
	Bcc         []string         `json:"bcc"`
	Subject     string           `json:"subject"`
	Text        string           `json:"text"`
	HTML        string           `json:"html"` // sanitised by the webmail's policy; the text part is made from it
	InReplyTo   string           `json:"in_reply_to"`
	References  string           `json:"references"`
	Attachments []sendAttachment `json:"attachments"`
}

type sendAttachment struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Data []byte `json:"data"` // base64 in JSON
}

// send submits a message (POST /api/v1/mail/send) through the webmail's submission path.
func (m *mailAPI) send(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	var req sendRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	o, err := m.outgoing(r.Context(), c, req)
	if err != nil {
		return sendErr(err)
	}
	raw, err := o.bytes()
	if err != nil {
		return sendErr(err)
	}
	if limit := m.s.maxMessage(c); int64(len(raw)) > limit {
		return apiErr(http.StatusRequestEntityTooLarge, "too_large", "the message is %d bytes, the limit %d", len(raw), limit)
	}
	rcpts, err := envelopeRcpts(o)
	if err != nil {
		return sendErr(err)
	}
	done, err := m.s.submit(r.Context(), c.p.acct, o.From.Address, rcpts, raw, submitFrom{ip: clientIP(r), tls: r.TLS != nil},
		strings.Trim(o.MessageID, "<>"))
	if err != nil {
		return sendErr(err)
	}
	m.s.writeJSON(w, http.StatusOK, map[string]any{"message_id": strings.Trim(o.MessageID, "<>"), "saved_in_sent": done == "sent"})
	return nil
}

// outgoing validates a send request into a message, with the compose form's checks.
func (m *mailAPI) outgoing(ctx context.Context, c *mailCtx, req sendRequest) (*outgoing, error) {
	for _, f := range []struct{ name, v string }{{"from", req.From}, {"subject", req.Subject},
		{"in_reply_to", req.InReplyTo}, {"references", req.References}} {
		if err := checkLine(f.name, f.v); err != nil {
			return nil, err
		}
	}
	o := &outgoing{Subject: strings.TrimSpace(req.Subject), Text: req.Text, Date: m.s.now(),
		MessageID: message.NewMessageID(m.s.opt.Hostname)}
	var err error
	if req.HTML != "" {
		if o.HTML, o.Text, err = richBody(m.clean, req.HTML); err != nil {
			return nil, err
		}
	}
	lists := []struct {
		name string
		in   []string
		out  *[]*netmail.Address
	}{{"to", req.To, &o.To}, {"cc", req.Cc, &o.Cc}, {"bcc", req.Bcc, &o.Bcc}}
	for _, l := range lists {
		for _, a := range l.in {
			if strings.ContainsAny(a, ",;") {
				return nil, badForm("%s: one address per item: %q", l.name, a)
			}
			list, err := parseAddrs(l.name, a)
			if err != nil {
				return nil, err
			}
			*l.out = append(*l.out, list...)
		}
	}
	if len(o.To)+len(o.Cc)+len(o.Bcc) == 0 {
		return nil, badForm("to, cc, bcc: at least one recipient")
	}
	ids := m.s.identities(ctx, c.p.acct)
	from := req.From
	if from == "" {
		from = ids[0]
	}
	i := slices.IndexFunc(ids, func(id string) bool { return strings.EqualFold(id, from) })
	if i < 0 {
		return nil, &formError{status: http.StatusForbidden, msg: fmt.Sprintf("you cannot send as %q", from)}
	}
	o.From = &netmail.Address{Address: ids[i]}
	o.InReplyTo, o.References = msgIDList(req.InReplyTo, 1), msgIDList(req.References, 50)
	for _, a := range req.Attachments {
		if err := checkLine("attachment name", a.Name); err != nil {
			return nil, err
		}
		typ := "application/octet-stream"
		if a.Type != "" {
			mt, _, err := mime.ParseMediaType(a.Type)
			if err != nil || strings.Count(mt, "/") != 1 {
				return nil, badForm("attachment %q: type %q is not a media type", a.Name, a.Type)
			}
			typ = mt
		}
		o.Attachments = append(o.Attachments, outPart{Name: safeFilename(a.Name), Type: typ, Data: a.Data})
	}
	if err := checkAttachmentSizes(o.Attachments, m.s.maxAttachment(ctx, c)); err != nil {
		return nil, err
	}
	return o, nil
}

// sendErr maps the submission path's refusals to stable codes: 400 invalid (the request),
// 403 forbidden (send-as), 413 too_large, 422 refused (a recipient or the message was
// refused; nothing was sent), 503 unavailable (temporary: try again).
func sendErr(err error) error {
	var fe *formError
	if !errors.As(err, &fe) {
		return err
	}
	code := map[int]string{http.StatusForbidden: "forbidden", http.StatusRequestEntityTooLarge: "too_large",
		http.StatusServiceUnavailable: "unavailable"}[fe.status]
	status := fe.status
	switch {
	case code != "":
	case strings.HasPrefix(fe.msg, "Not sent: "):
		code = "refused"
	default:
		code, status = "invalid", http.StatusBadRequest
	}
	return apiErr(status, code, "%s", fe.msg)
}

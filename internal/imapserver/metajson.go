package imapserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"mailgrid/internal/message"
)

// metaFields is what the header search keys (FROM, TO, CC, BCC, SUBJECT, SENT*) read
// from a message's cached message.Info JSON (store.Message.Meta), decoded lazily: the
// normalised Date, Subject, From and To at once, and from the envelope only the field a
// key falls back to. The body structure, most of the document, is skipped by a byte
// scan that only balances brackets and strings: decoding whole documents with
// encoding/json was most of the time of SEARCH FROM over a mailbox.
type metaFields struct {
	date              time.Time
	subject, from, to string
	env               []byte // raw envelope object
}

// parseMetaFields reads the top-level fields of meta.
func parseMetaFields(meta []byte) (*metaFields, error) {
	mf := &metaFields{}
	err := eachMember(meta, func(key string, raw []byte) error {
		switch key {
		case "env":
			mf.env = raw
		case "date":
			return json.Unmarshal(raw, &mf.date)
		case "subject":
			return jsonString(raw, &mf.subject)
		case "from":
			return jsonString(raw, &mf.from)
		case "to":
			return jsonString(raw, &mf.to)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mf, nil
}

// jsonString decodes a JSON string, without encoding/json when it has no escapes.
func jsonString(raw []byte, dst *string) error {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
		*dst = string(raw[1 : len(raw)-1])
		return nil
	}
	return json.Unmarshal(raw, dst)
}

// envField decodes one member of the envelope into dst (left zero if absent).
func (mf *metaFields) envField(key string, dst any) {
	if mf.env == nil {
		return
	}
	_ = eachMember(mf.env, func(k string, raw []byte) error {
		if k == key {
			return json.Unmarshal(raw, dst) // a malformed field matches nothing
		}
		return nil
	})
}

func (mf *metaFields) envAddrs(key string) []message.Address {
	var l []message.Address
	mf.envField(key, &l)
	return l
}

// match evaluates a header key (RFC 9051 6.4.4) as matchContent does over a full Info.
func (mf *metaFields) match(k *searchKey, internal time.Time) bool {
	switch k.op {
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		d := mf.date
		if d.IsZero() {
			d = internal // as Dovecot: no usable Date header
		}
		return compareDate(strings.TrimPrefix(k.op, "SENT"), d, k.date)
	case "SUBJECT":
		if containsFold(mf.subject, k.str) {
			return true
		}
		var raw string
		mf.envField("subject", &raw)
		return containsFold(raw, k.str)
	case "FROM", "TO":
		list := mf.from
		if k.op == "TO" {
			list = mf.to
		}
		if containsFold(list, k.str) {
			return true
		}
		// The display list holds every address as "Name <a@b>" or "a@b": only a needle
		// with angle brackets or spaces can match an address form it does not show.
		if !strings.ContainsAny(k.str, "<> ") {
			return false
		}
		return addrContains(mf.envAddrs(strings.ToLower(k.op)), k.str)
	case "CC", "BCC":
		return addrContains(mf.envAddrs(strings.ToLower(k.op)), k.str)
	}
	return false
}

var errMetaJSON = errors.New("malformed meta JSON")

// eachMember calls fn with the key and raw value of each member of the JSON object in
// data. Keys are taken literally (message.Info's names need no escapes).
func eachMember(data []byte, fn func(key string, raw []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errMetaJSON
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for i < len(data) {
		if data[i] != '"' {
			return errMetaJSON
		}
		end := skipString(data, i)
		if end < 0 {
			return errMetaJSON
		}
		key := string(data[i+1 : end-1])
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return errMetaJSON
		}
		start := skipSpace(data, i+1)
		end = skipValue(data, start)
		if end < 0 {
			return errMetaJSON
		}
		if err := fn(key, data[start:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		switch {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == '}':
			return nil
		default:
			return errMetaJSON
		}
	}
	return errMetaJSON
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] == '"', or -1.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at data[i], or -1. It checks
// only what it needs to find the end: brackets balance outside strings.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				end := skipString(data, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(data) && data[i] != ',' && data[i] != '}' && data[i] != ']' &&
		data[i] != ' ' && data[i] != '\n' && data[i] != '\r' && data[i] != '\t' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

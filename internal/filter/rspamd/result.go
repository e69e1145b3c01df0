package rspamd

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Action is rspamd's recommendation. Installations may define more; these are the
// standard ones (https://rspamd.com/doc/configuration/metrics.html).
type Action string

// Standard actions, mildest first.
const (
	NoAction       Action = "no action"
	Greylist       Action = "greylist"
	AddHeader      Action = "add header"
	RewriteSubject Action = "rewrite subject"
	SoftReject     Action = "soft reject" // temporary: 4xx
	Reject         Action = "reject"      // permanent: 5xx
	Discard        Action = "discard"     // accept and drop
	Quarantine     Action = "quarantine"
)

// Result is rspamd's verdict on one message.
type Result struct {
	Action        Action
	Score         float64
	RequiredScore float64           // the reject threshold
	Skipped       bool              // rspamd skipped its rules (GTUBE, settings, a prefilter)
	Symbols       map[string]Symbol // the rules that fired, by name
	MessageID     string            // the Message-ID rspamd read, "undef" if none
	SMTPMessage   string            // text for the SMTP reply, when rspamd gives one
	Subject       string            // the new subject, for "rewrite subject"
	AddHeaders    []Header          // headers rspamd asks the MTA to add, in its order
	RemoveHeaders []string          // header names rspamd asks the MTA to remove
}

// Symbol is one rule that fired.
type Symbol struct {
	Name        string   `json:"name"`
	Score       float64  `json:"score"`
	Description string   `json:"description,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Header is one header field to add.
type Header struct {
	Name, Value string
}

// SortedSymbols returns the symbols by descending score (then name): the order a report
// header lists them in.
func (r *Result) SortedSymbols() []Symbol {
	out := slices.Collect(maps.Values(r.Symbols))
	slices.SortFunc(out, func(a, b Symbol) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// wireResult is the checkv2 JSON reply.
type wireResult struct {
	Action        *string           `json:"action"`
	Score         *float64          `json:"score"`
	RequiredScore float64           `json:"required_score"`
	Skipped       bool              `json:"is_skipped"`
	Symbols       map[string]Symbol `json:"symbols"`
	Messages      map[string]any    `json:"messages"`
	MessageID     string            `json:"message-id"`
	Subject       string            `json:"subject"`
	Milter        *struct {
		AddHeaders    map[string]json.RawMessage `json:"add_headers"`
		RemoveHeaders map[string]json.RawMessage `json:"remove_headers"`
	} `json:"milter"`
}

// parseResult decodes a checkv2 reply. The action and the score are required.
func parseResult(body []byte) (*Result, error) {
	var w wireResult
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode reply: %w", err)
	}
	if w.Action == nil || w.Score == nil {
		return nil, errors.New("reply has no action or score")
	}
	r := &Result{
		Action:        Action(*w.Action),
		Score:         *w.Score,
		RequiredScore: w.RequiredScore,
		Skipped:       w.Skipped,
		Symbols:       w.Symbols,
		MessageID:     w.MessageID,
		Subject:       w.Subject,
	}
	if r.Symbols == nil {
		r.Symbols = map[string]Symbol{}
	}
	for name, s := range r.Symbols {
		if s.Name == "" {
			s.Name = name
			r.Symbols[name] = s
		}
	}
	if msg, ok := w.Messages["smtp_message"].(string); ok {
		r.SMTPMessage = msg
	}
	if w.Milter != nil {
		r.AddHeaders = milterHeaders(w.Milter.AddHeaders)
		r.RemoveHeaders = slices.Sorted(maps.Keys(w.Milter.RemoveHeaders))
	}
	return r, nil
}

// milterHeaders reads rspamd's add_headers: each name maps to a value, to
// {"value": v, "order": n}, or to a list of either. Headers come out by order, then name.
func milterHeaders(m map[string]json.RawMessage) []Header {
	type ordered struct {
		Header
		order int
	}
	var out []ordered
	for name, raw := range m {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			list = []json.RawMessage{raw}
		}
		for _, item := range list {
			var s string
			if json.Unmarshal(item, &s) == nil {
				out = append(out, ordered{Header{name, s}, 0})
				continue
			}
			var obj struct {
				Value string `json:"value"`
				Order int    `json:"order"`
			}
			if json.Unmarshal(item, &obj) == nil {
				out = append(out, ordered{Header{name, obj.Value}, obj.Order})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b ordered) int {
		if c := cmp.Compare(a.order, b.order); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	hs := make([]Header, len(out))
	for i, o := range out {
		hs[i] = o.Header
	}
	return hs
}

// errorText returns the "error" member of an rspamd error reply, or the body itself
// (shortened) when it is not JSON.
func errorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}

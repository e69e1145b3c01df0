package smtpserver

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	"mailgrid/internal/store"
)

// headerFields is what submission needs from a message's header section (RFC 5322 3.6).
type headerFields struct {
	from      []string   // unfolded values of From: fields
	messageID bool       // a Message-ID: field is present
	date      bool       // a Date: field is present
	saveSent  string     // value of X-Mailgrid-Save-Sent:, "" if absent
	drop      [][2]int64 // byte ranges of fields to remove (X-Mailgrid-Save-Sent)
}

const (
	saveSentField = "X-Mailgrid-Save-Sent"
	maxFieldValue = 16 << 10 // bytes kept of an interesting field's value
)

// scanHeader reads the header section [0, end) of b line by line, keeping only the fields
// submission looks at; it never holds more than one field of interest in memory.
func scanHeader(b store.Body, end int64) (headerFields, error) {
	var h headerFields
	br := bufio.NewReaderSize(io.NewSectionReader(b, 0, end), 4096)
	var (
		off        int64
		name       string
		start      int64
		val        strings.Builder
		inField    bool
		interested bool
	)
	finish := func(stop int64) {
		if !inField {
			return
		}
		v := strings.TrimSpace(val.String())
		switch strings.ToLower(name) {
		case "from":
			h.from = append(h.from, v)
		case "message-id":
			h.messageID = true
		case "date":
			h.date = true
		case strings.ToLower(saveSentField):
			h.saveSent = v
			h.drop = append(h.drop, [2]int64{start, stop})
		}
		inField, interested = false, false
		val.Reset()
	}
	for {
		line, err := br.ReadBytes('\n') // lines are at most 1000 octets (checked on receipt)
		if len(line) > 0 {
			if line[0] == ' ' || line[0] == '\t' { // RFC 5322 2.2.3 folding
				if interested && val.Len() < maxFieldValue {
					val.Write(bytes.TrimRight(line, "\r\n"))
				}
			} else {
				finish(off)
				if i := bytes.IndexByte(line, ':'); i > 0 {
					name, start, inField = string(bytes.TrimSpace(line[:i])), off, true
					interested = isInteresting(name)
					if interested {
						val.Write(bytes.TrimRight(line[i+1:], "\r\n"))
					}
				}
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			finish(off)
			return h, nil
		}
		if err != nil {
			return h, err
		}
	}
}

func isInteresting(name string) bool {
	switch strings.ToLower(name) {
	case "from", "message-id", "date", strings.ToLower(saveSentField):
		return true
	}
	return false
}

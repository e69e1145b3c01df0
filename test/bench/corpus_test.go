package main

import (
	"strings"
	"testing"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// The bench's messages parse as what they claim: plain text up to 16 KiB, a text part and
// a base64 attachment above, about the size asked for, and the text index reads only
// their text.
func TestMakeMessage(t *testing.T) {
	for _, size := range []int{4 << 10, 100 << 10} {
		m := makeMessage(size)
		if len(m) < size*9/10 || len(m) > size*11/10 {
			t.Errorf("size %d: got %d bytes", size, len(m))
		}
		if strings.Contains(strings.ReplaceAll(string(m), "\r\n", ""), "\n") {
			t.Errorf("size %d: bare LF", size)
		}
		info, err := message.Parse(strings.NewReader(string(m)), int64(len(m)))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		txt, err := store.ExtractText(strings.NewReader(string(m)), int64(len(m)))
		if err != nil {
			t.Fatal(err)
		}
		if size > 16<<10 {
			if len(info.Structure.Children) != 2 || info.Structure.Children[1].Type != "application" {
				t.Errorf("size %d: structure %+v", size, info.Structure)
			}
			if len(txt.Body) > 4<<10 {
				t.Errorf("size %d: %d bytes of searchable text, want the text part alone", size, len(txt.Body))
			}
		} else if len(txt.Body) < size/2 {
			t.Errorf("size %d: %d bytes of searchable text", size, len(txt.Body))
		}
	}
}

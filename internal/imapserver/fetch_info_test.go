package imapserver

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"mailgrid/internal/message"
)

// TestDecodeInfoWithoutStructure: the Meta decoded without its structure gives what the
// full decode gives for every field a FETCH without structure reads, on every test
// message; and which items need the structure.
func TestDecodeInfoWithoutStructure(t *testing.T) {
	files, err := filepath.Glob("testdata/messages/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("test messages: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		info, err := message.Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		meta, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		full, lite := decodeInfo(meta, true), decodeInfo(meta, false)
		if full == nil || lite == nil {
			t.Fatalf("%s: decode failed", f)
		}
		if !reflect.DeepEqual(full.Envelope, lite.Envelope) || full.HeaderSize != lite.HeaderSize ||
			full.Size != lite.Size || full.Malformed != lite.Malformed {
			t.Errorf("%s: without structure %+v, with %+v", f, lite, full)
		}
		if !reflect.DeepEqual(full.Structure, info.Structure) || !reflect.DeepEqual(lite.Structure, message.Part{}) {
			t.Errorf("%s: structure decoded when not asked for, or not when asked", f)
		}
	}
	if decodeInfo([]byte("{not json"), false) != nil {
		t.Error("an undecodable Meta must give nil (the body is parsed instead)")
	}
	for _, c := range []struct {
		atts []fetchAtt
		want bool
	}{
		{[]fetchAtt{{name: "ENVELOPE"}, {name: "BODY", section: &section{text: "TEXT"}}, {name: "RFC822.HEADER"}}, false},
		{[]fetchAtt{{name: "BINARY", section: &section{}}}, false},
		{[]fetchAtt{{name: "BODYSTRUCTURE"}}, true},
		{[]fetchAtt{{name: "BODY"}}, true},
		{[]fetchAtt{{name: "ENVELOPE"}, {name: "BODY", section: &section{part: []int{1}, text: "MIME"}}}, true},
		{[]fetchAtt{{name: "BINARY.SIZE", section: &section{part: []int{2}}}}, true},
	} {
		if got := needsStructure(c.atts); got != c.want {
			t.Errorf("needsStructure(%+v) = %v, want %v", c.atts, got, c.want)
		}
	}
}

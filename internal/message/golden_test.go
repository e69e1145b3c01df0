package message

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

// crlf returns b with every bare LF turned into CRLF, the form messages have on the wire.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// lf returns b with CRLF turned into LF, as some stores and Maildirs keep messages.
func lf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

func parseBytes(t testing.TB, raw []byte) *Info {
	t.Helper()
	info, err := Parse(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return info
}

// TestGolden parses every testdata/*.eml (as CRLF) and compares a readable dump of the
// Info, with every part's header and body sliced from the raw message at its offsets,
// to testdata/*.golden. The same message with LF line ends must give the same tree.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			raw := crlf(src)
			info := parseBytes(t, raw)
			checkInvariants(t, raw, info)
			checkJSON(t, info)
			got := dump(raw, info)
			golden := strings.TrimSuffix(file, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("dump differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}

			lraw := lf(raw)
			linfo := parseBytes(t, lraw)
			checkInvariants(t, lraw, linfo)
			if a, b := shape(&info.Structure), shape(&linfo.Structure); a != b {
				t.Errorf("LF tree %s differs from CRLF tree %s", b, a)
			}
			if !reflect.DeepEqual(info.Envelope, linfo.Envelope) {
				t.Errorf("LF envelope %+v differs from CRLF envelope %+v", linfo.Envelope, info.Envelope)
			}
		})
	}
}

// checkInvariants asserts what must hold for any input: offsets ordered and within the
// message, sizes matching offsets, children inside their parent.
func checkInvariants(t testing.TB, raw []byte, info *Info) {
	t.Helper()
	size := int64(len(raw))
	if info.Size != size || info.HeaderSize != info.Structure.BodyStart {
		t.Fatalf("Size %d HeaderSize %d, want %d and %d", info.Size, info.HeaderSize, size, info.Structure.BodyStart)
	}
	if info.Structure.HeaderStart != 0 || info.Structure.End != size {
		t.Fatalf("root spans [%d,%d), want [0,%d)", info.Structure.HeaderStart, info.Structure.End, size)
	}
	var walk func(p *Part, lo, hi int64, depth int)
	walk = func(p *Part, lo, hi int64, depth int) {
		if depth > MaxDepth+1 {
			t.Fatalf("tree deeper than MaxDepth")
		}
		if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
			t.Fatalf("%s/%s offsets %d,%d,%d outside [%d,%d]", p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.End, lo, hi)
		}
		if p.Size != p.End-p.BodyStart {
			t.Fatalf("%s/%s Size %d != End-BodyStart %d", p.Type, p.Subtype, p.Size, p.End-p.BodyStart)
		}
		if p.Type == "multipart" && len(p.Children) == 0 {
			t.Fatalf("multipart without children")
		}
		prev := p.BodyStart
		for i := range p.Children {
			c := &p.Children[i]
			if c.HeaderStart < prev {
				t.Fatalf("child %d starts at %d before %d", i, c.HeaderStart, prev)
			}
			walk(c, p.BodyStart, p.End, depth+1)
			prev = c.End
		}
		if p.Message != nil {
			if p.Message.HeaderStart != p.BodyStart || p.Message.End != p.End {
				t.Fatalf("message part [%d,%d) != body [%d,%d)", p.Message.HeaderStart, p.Message.End, p.BodyStart, p.End)
			}
			walk(p.Message, p.BodyStart, p.End, depth+1)
		}
	}
	walk(&info.Structure, 0, size, 0)
}

// checkJSON asserts that Info survives the JSON round trip the store cache makes.
func checkJSON(t testing.TB, info *Info) {
	t.Helper()
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back Info
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !back.Date.Equal(info.Date) {
		t.Fatalf("date %v != %v", back.Date, info.Date)
	}
	back.Date = info.Date
	if !reflect.DeepEqual(&back, info) {
		t.Fatalf("JSON round trip changed Info:\n%+v\n%+v", back, *info)
	}
}

// shape is the tree's type skeleton, for comparing line-ending variants.
func shape(p *Part) string {
	s := p.Type + "/" + p.Subtype
	if p.Message != nil {
		s += "{" + shape(p.Message) + "}"
	}
	if len(p.Children) > 0 {
		var c []string
		for i := range p.Children {
			c = append(c, shape(&p.Children[i]))
		}
		s += "(" + strings.Join(c, " ") + ")"
	}
	return s
}

// dump renders an Info for the golden files.
func dump(raw []byte, info *Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "size=%d header=%d malformed=%v attachment=%v\n", info.Size, info.HeaderSize, info.Malformed, info.HasAttachment)
	date := ""
	if !info.Date.IsZero() {
		date = info.Date.Format("2006-01-02T15:04:05-07:00")
	}
	fmt.Fprintf(&b, "date=%s\nsubject=%q\nfrom=%q\nto=%q\nmsgid=%q inreplyto=%q references=%q\n",
		date, info.Subject, info.From, info.To, info.MessageID, info.InReplyTo, info.References)
	dumpEnvelope(&b, "", &info.Envelope)
	dumpPart(&b, raw, &info.Structure, "", "")
	return b.String()
}

func dumpEnvelope(b *strings.Builder, indent string, e *Envelope) {
	fmt.Fprintf(b, "%senvelope date=%q subject=%q inreplyto=%q msgid=%q\n", indent, e.Date, e.Subject, e.InReplyTo, e.MessageID)
	for _, f := range []struct {
		name string
		list []Address
	}{{"from", e.From}, {"sender", e.Sender}, {"replyto", e.ReplyTo}, {"to", e.To}, {"cc", e.Cc}, {"bcc", e.Bcc}} {
		if f.list == nil {
			continue
		}
		fmt.Fprintf(b, "%s  %s:", indent, f.name)
		for _, a := range f.list {
			fmt.Fprintf(b, " (%q %q %q)", a.Name, a.Mailbox, a.Host)
		}
		b.WriteString("\n")
	}
}

func dumpPart(b *strings.Builder, raw []byte, p *Part, section, indent string) {
	if section == "" {
		section = "root"
	}
	fmt.Fprintf(b, "%s[%s] %s/%s enc=%s size=%d lines=%d params=%s", indent, section, p.Type, p.Subtype, p.Encoding, p.Size, p.Lines, params(p.Params))
	if p.Disposition != "" {
		fmt.Fprintf(b, " disp=%s%s", p.Disposition, params(p.DispositionParams))
	}
	for _, kv := range [][2]string{{"id", p.ID}, {"desc", p.Description}, {"md5", p.MD5}, {"loc", p.Location}, {"lang", strings.Join(p.Language, ",")}} {
		if kv[1] != "" {
			fmt.Fprintf(b, " %s=%q", kv[0], kv[1])
		}
	}
	fmt.Fprintf(b, "\n%s  header %q\n", indent, raw[p.HeaderStart:p.BodyStart])
	if len(p.Children) == 0 && p.Message == nil {
		fmt.Fprintf(b, "%s  body   %q\n", indent, raw[p.BodyStart:p.End])
	}
	if p.Message != nil {
		dumpEnvelope(b, indent+"  ", p.Envelope)
		dumpPart(b, raw, p.Message, strings.TrimPrefix(section+".msg", "root."), indent+"  ")
	}
	for i := range p.Children {
		sub := fmt.Sprint(i + 1)
		if section != "root" {
			sub = section + "." + sub
		}
		dumpPart(b, raw, &p.Children[i], sub, indent+"  ")
	}
}

func params(m map[string]string) string {
	if len(m) == 0 {
		return "()"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

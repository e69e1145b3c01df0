package contacts_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"mailgrid/internal/contacts"
)

// A file as Thunderbird / Apple Contacts write it: vCard 3.0, N without FN, folded lines,
// a group card whose members are a UID of the file and a mailto: URI (RFC 6350 6.6.5),
// TEL with a tel: URI.
const clientVCard = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\nFN:Ann Example\r\nEMAIL;TYPE=work:ann@Example.ORG\r\nEMAIL:ann.home@example.net\r\nTEL;TYPE=cell:+1 555 0100\r\nNOTE:met at the conference\\, 2026\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nN:Lee;Bo;;Dr.;\r\nEMAIL:bo@example.com\r\nTEL;VALUE=uri:tel:+44-20-7946-0000\r\nNOTE:first line\\nsecond line with a long text that the encoder must fold because it is longer than seventy-five octets\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Team\r\nMEMBER:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\nMEMBER:mailto:bo@example.com\r\nEND:VCARD\r\n"

func TestVCardRoundTrip(t *testing.T) {
	cs, err := contacts.ParseVCard(strings.NewReader(clientVCard))
	if err != nil {
		t.Fatal(err)
	}
	want := []contacts.Contact{
		{Name: "Ann Example", Emails: []string{"ann@example.org", "ann.home@example.net"}, Phones: []string{"+1 555 0100"}, Note: "met at the conference, 2026"},
		{Name: "Dr. Bo Lee", Emails: []string{"bo@example.com"}, Phones: []string{"+44-20-7946-0000"}, Note: "first line\nsecond line with a long text that the encoder must fold because it is longer than seventy-five octets"},
		{Name: "Team", Kind: contacts.KindGroup, Members: []string{"ann@example.org", "bo@example.com"}},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("parsed\n%#v\nwant\n%#v", cs, want)
	}
	var out bytes.Buffer
	if err := contacts.WriteVCard(&out, cs); err != nil {
		t.Fatal(err)
	}
	again, err := contacts.ParseVCard(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !reflect.DeepEqual(again, cs) {
		t.Fatalf("import of the export differs:\n%#v\n%s", again, out.String())
	}
	var out2 bytes.Buffer
	if err := contacts.WriteVCard(&out2, again); err != nil {
		t.Fatal(err)
	}
	if out2.String() != out.String() {
		t.Fatalf("export not stable:\n%s\n---\n%s", out.String(), out2.String())
	}
	for l := range strings.SplitSeq(out.String(), "\r\n") {
		if len(l) > 75 {
			t.Errorf("line not folded (RFC 6350 3.2): %q", l)
		}
	}
}

func TestVCardGroupExport(t *testing.T) {
	var out bytes.Buffer
	g := contacts.Contact{Kind: contacts.KindGroup, Name: "Team", Members: []string{"a@example.org", "b@example.org"}}
	if err := contacts.WriteVCard(&out, []contacts.Contact{g}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KIND:group\r\n", "FN:Team\r\n", "MEMBER:mailto:a@example.org\r\n", "MEMBER:mailto:b@example.org\r\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
	var csv bytes.Buffer
	if err := contacts.WriteCSV(&csv, []contacts.Contact{g}); err != nil || strings.Contains(csv.String(), "Team") {
		t.Fatalf("a group in CSV: %q %v", csv.String(), err)
	}
}

func TestVCardGroupBadMember(t *testing.T) {
	in := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Good\r\nEMAIL:good@example.com\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:List\r\nMEMBER:urn:uuid:nobody\r\nEND:VCARD\r\n"
	cs, err := contacts.ParseVCard(strings.NewReader(in))
	var ie *contacts.ImportError
	if !errors.As(err, &ie) || cs != nil || len(ie.Lines) != 1 || ie.Lines[0].Line != 6 || !strings.Contains(err.Error(), "urn:uuid:nobody") {
		t.Fatalf("got %v, %v", cs, err)
	}
}

func TestVCardBadCardRefused(t *testing.T) {
	in := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Good\r\nEMAIL:good@example.com\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bad\r\nEMAIL:not an address\r\nEND:VCARD\r\n"
	cs, err := contacts.ParseVCard(strings.NewReader(in))
	var ie *contacts.ImportError
	if !errors.As(err, &ie) || cs != nil {
		t.Fatalf("got %v, %v", cs, err)
	}
	if len(ie.Lines) != 1 || ie.Lines[0].Line != 6 {
		t.Fatalf("lines %+v", ie.Lines)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	in := "Name,E-mail Address,E-mail 2,Mobile Phone,Notes,Company\n" +
		"Ann Example,ann@example.org,ann2@example.org,+1 555 0100,\"a note, with comma\",ACME\n" +
		"\"Bo \"\"B\"\" Lee\",bo@example.com; bo2@example.com,,,\n"
	cs, err := contacts.ParseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []contacts.Contact{
		{Name: "Ann Example", Emails: []string{"ann@example.org", "ann2@example.org"}, Phones: []string{"+1 555 0100"}, Note: "a note, with comma"},
		{Name: `Bo "B" Lee`, Emails: []string{"bo@example.com", "bo2@example.com"}},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("parsed\n%#v\nwant\n%#v", cs, want)
	}
	var out bytes.Buffer
	if err := contacts.WriteCSV(&out, cs); err != nil {
		t.Fatal(err)
	}
	again, err := contacts.ParseCSV(bytes.NewReader(out.Bytes()))
	if err != nil || !reflect.DeepEqual(again, cs) {
		t.Fatalf("%v\n%#v\n%s", err, again, out.String())
	}
}

func TestCSVBadLinesRefused(t *testing.T) {
	in := "Name,Email\n" +
		"Good,good@example.com\n" +
		"Bad one,not-an-address\n" +
		"\"multi\nline\",ok@example.com\n" +
		",\n" +
		"Ctl\x01,x@example.com\n"
	cs, err := contacts.ParseCSV(strings.NewReader(in))
	var ie *contacts.ImportError
	if !errors.As(err, &ie) || cs != nil {
		t.Fatalf("got %v, %v", cs, err)
	}
	var lines []int
	for _, l := range ie.Lines {
		lines = append(lines, l.Line)
	}
	// The multi-line name is refused too (a control character in a name), at its start.
	if want := []int{3, 4, 6, 7}; !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines %v want %v (%v)", lines, want, err)
	}
	if !strings.Contains(err.Error(), "line 3") {
		t.Errorf("message %q", err)
	}
	if _, err := contacts.ParseCSV(strings.NewReader("Company,City\nx,y\n")); err == nil {
		t.Error("a header without Name or Email accepted")
	}
	if _, err := contacts.ParseCSV(strings.NewReader("Name,Email\n\"unterminated,x@example.com\n")); err == nil {
		t.Error("a quote error accepted")
	}
}

// A cell a spreadsheet would run as a formula is exported behind an apostrophe and
// imported back unchanged; phone numbers keep their '+'.
func TestCSVFormulaDefused(t *testing.T) {
	cs := []contacts.Contact{{Name: "=HYPERLINK(\"http://evil.test\")", Emails: []string{"a@example.org"}, Phones: []string{"+1 555 0100"}, Note: "@SUM(A1)"}}
	var out bytes.Buffer
	if err := contacts.WriteCSV(&out, cs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"'=HYPERLINK(""http://evil.test"")"`) || !strings.Contains(out.String(), "'@SUM(A1)") || !strings.Contains(out.String(), ",+1 555 0100,") {
		t.Fatalf("export:\n%s", out.String())
	}
	again, err := contacts.ParseCSV(&out)
	if err != nil || !reflect.DeepEqual(again, cs) {
		t.Fatalf("%v %#v", err, again)
	}
}

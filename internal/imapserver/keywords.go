package imapserver

import (
	"slices"
	"strings"
)

// systemFlags are the flags every mailbox has (RFC 9051 2.3.2), in the order of FLAGS.
const systemFlags = `\Answered \Flagged \Deleted \Seen \Draft`

// keywordSet is the keywords a session has announced for its selected mailbox in FLAGS
// and PERMANENTFLAGS (RFC 9051 7.3.5, 7.1: "the flags ... that are applicable for this
// mailbox"): those in use at SELECT, plus every keyword that appeared since (STORE or
// APPEND by this session or another). Keywords are case-insensitive (RFC 9051 2.3.2): the
// first spelling seen is kept. A keyword is never withdrawn while the mailbox stays
// selected, as Dovecot does, so a client's list only grows.
type keywordSet struct {
	list    []string            // sorted, as announced
	folded  map[string]struct{} // lower-case forms of list
	pending bool                // keywords were added since the last announcement
}

// add records the keywords among flags and reports whether one was new.
func (k *keywordSet) add(flags []string) bool {
	added := false
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			continue
		}
		lf := strings.ToLower(f)
		if _, ok := k.folded[lf]; ok {
			continue
		}
		if k.folded == nil {
			k.folded = map[string]struct{}{}
		}
		k.folded[lf] = struct{}{}
		i, _ := slices.BinarySearch(k.list, f)
		k.list = slices.Insert(k.list, i, f)
		added = true
	}
	k.pending = k.pending || added
	return added
}

// writeFlagsResponses writes FLAGS and PERMANENTFLAGS for the selected mailbox (RFC 9051
// 7.3.5, 7.1): the system flags and the keywords in use, and "\*" in PERMANENTFLAGS since
// any keyword can be created; PERMANENTFLAGS is empty when the mailbox is read-only. The
// same pair is sent again whenever a new keyword appears in the mailbox.
func (s *session) writeFlagsResponses(v *view) {
	kw := ""
	if len(v.keywords.list) > 0 {
		kw = " " + strings.Join(v.keywords.list, " ")
	}
	v.keywords.pending = false
	s.w.raw("* FLAGS (" + systemFlags + kw + ")\r\n")
	if v.readOnly {
		s.w.raw("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n")
	} else {
		s.w.raw(`* OK [PERMANENTFLAGS (` + systemFlags + kw + ` \*)] Flags permitted` + "\r\n")
	}
}

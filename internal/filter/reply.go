package filter

import "fmt"

// Reply is an SMTP reply a mailet chooses for Reject or Defer: the reply code
// (RFC 5321 4.2), the enhanced status code (RFC 3463) and the text.
type Reply struct {
	Code     int
	Enhanced [3]int
	Text     string
}

func (r Reply) String() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// Temporary reports whether r is a 4xx reply.
func (r Reply) Temporary() bool { return r.Code/100 == 4 }

// valid reports whether r is a 4xx or 5xx reply with a matching enhanced class.
func (r Reply) valid() bool {
	c := r.Code / 100
	return (c == 4 || c == 5) && r.Enhanced[0] == c && r.Code >= 400 && r.Code <= 599
}

// RejectPolicy is 550 5.7.1 with text: the message is refused by policy (RFC 3463 5.7.1
// "delivery not authorized, message refused").
func RejectPolicy(text string) Reply {
	return Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: text}
}

// DeferPolicy is 451 4.7.1 with text: try again later (a filter could not decide).
func DeferPolicy(text string) Reply {
	return Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: text}
}

// errFilterUnavailable is what FailClosed answers: Postfix's milter tempfail reply.
func errFilterUnavailable() Reply {
	return DeferPolicy("Service unavailable - try again later")
}

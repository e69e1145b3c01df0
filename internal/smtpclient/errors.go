package smtpclient

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/queue"
)

// nextHostError marks a failure after which the next address is worth trying.
type nextHostError struct{ *queue.DeliveryError }

func (e *nextHostError) Unwrap() error { return e.DeliveryError }

func nextHost(de *queue.DeliveryError) error { return &nextHostError{de} }

// handshakeError is a failed TLS handshake: the session is retried without TLS.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// sessionErr converts a failure at stage (EHLO, MAIL FROM, …) with host into a
// DeliveryError: a server reply keeps its code, enhanced code and text, and is
// temporary unless it is 5xx (RFC 5321 4.2.1); anything else is a temporary connection
// failure (RFC 3463 4.4.2).
func sessionErr(host, stage string, err error) *queue.DeliveryError {
	if r, ok := replyOf(err); ok {
		return &queue.DeliveryError{Reply: r, Temporary: r.Code/100 != 5, RemoteMTA: host,
			Err: fmt.Errorf("%s: %w", stage, err)}
	}
	de := tempErr("4.4.2", fmt.Sprintf("%s: %s", host, stage), err)
	de.RemoteMTA = host
	return de
}

// replyOf extracts the SMTP reply from a go-smtp or net/textproto error.
func replyOf(err error) (queue.Reply, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := queue.Reply{Code: se.Code, Text: se.Message}
		if ec := se.EnhancedCode; ec != (smtp.EnhancedCode{}) && ec != smtp.NoEnhancedCode {
			r.Enhanced = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
		}
		return r, true
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		enh, text := splitEnhanced(te.Msg)
		return queue.Reply{Code: te.Code, Enhanced: enh, Text: text}, true
	}
	return queue.Reply{}, false
}

func isReply(err error) bool {
	_, ok := replyOf(err)
	return ok
}

// splitEnhanced separates a leading RFC 3463 status ("2.0.0 ok") from reply text,
// removing its repetition at the start of further lines (RFC 2034 4).
func splitEnhanced(text string) (enhanced, rest string) {
	code, tail, ok := strings.Cut(text, " ")
	if !ok || !isEnhanced(code) {
		return "", text
	}
	return code, strings.ReplaceAll(tail, "\n"+code+" ", "\n")
}

func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

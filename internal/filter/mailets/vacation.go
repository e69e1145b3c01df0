package mailets

import (
	"fmt"
	"mime"
	netmail "net/mail"
	"strings"
	"time"

	"mailgrid/internal/filter/sieve"
	"mailgrid/internal/message"
	"mailgrid/internal/message/body"
)

// composeVacation writes the auto-reply of RFC 5230 5: From the user (or :from), To the
// sender, the subject, In-Reply-To and References (RFC 3834 3.1.5), Auto-Submitted:
// auto-replied (RFC 3834 5), and the reason as a text/plain body or, with :mime, as the
// MIME entity the script gave.
func composeVacation(v *sieve.VacationAction, host string, now time.Time) (body.Bytes, error) {
	from := v.From
	if from == "" {
		from = v.Recipient
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("vacation :from %q: %w", from, err)
	}
	var h []byte
	h = message.AppendField(h, "From", from)
	h = message.AppendField(h, "To", v.To)
	h = message.AppendField(h, "Subject", mime.QEncoding.Encode("utf-8", v.Subject))
	h = message.AppendField(h, "Date", message.FormatDate(now))
	h = message.AppendField(h, "Message-ID", message.NewMessageID(host))
	if v.InReplyTo != "" {
		h = message.AppendField(h, "In-Reply-To", v.InReplyTo)
	}
	if v.References != "" {
		h = message.AppendField(h, "References", v.References)
	}
	h = message.AppendField(h, "Auto-Submitted", "auto-replied (vacation)")
	h = message.AppendField(h, "MIME-Version", "1.0")
	reason := strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", "\r\n")
	if v.MIME {
		// RFC 5230 4.4: the reason is a MIME entity, its own header included.
		return append(h, reason...), nil
	}
	h = message.AppendField(h, "Content-Type", "text/plain; charset=utf-8")
	h = message.AppendField(h, "Content-Transfer-Encoding", "8bit")
	h = append(h, "\r\n"...)
	h = append(h, reason...)
	if !strings.HasSuffix(reason, "\r\n") {
		h = append(h, "\r\n"...)
	}
	return h, nil
}

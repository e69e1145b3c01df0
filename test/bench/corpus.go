package main

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// proseWords is the vocabulary of the bench's message text: mail-like prose, so the
// store's text index sees what mail gives it (a few thousand distinct trigrams), not
// random bytes, whose every trigram is new.
var proseWords = strings.Fields(`the a of to and in for on with at by from as is was be are this that it
	meeting agenda project report budget invoice order delivery schedule review draft version
	please find attached thanks regards hello hi team customer account payment quarter
	release server update status deadline tomorrow today monday friday week month office
	question answer details contract proposal offer price discount shipment tracking number
	note reminder follow up call conference room travel hotel flight booking confirmed
	changes comments feedback document spreadsheet presentation slides summary minutes
	issue ticket support request access password reset security policy backup storage
	network database migration test results figures sales marketing plan launch product`)

// makeMessage returns an RFC 5322 message of about size bytes with CRLF lines. Up to 16
// KiB it is a plain text message; larger ones are what large mail mostly is, a short text
// part and an attachment (multipart/mixed, RFC 2046 5.1, the attachment base64 of random
// bytes): the text index reads the text part only.
func makeMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: Bench <sender@client.bench>\r\nTo: user@bench.test\r\nSubject: bench\r\n")
	b.WriteString("Message-ID: <" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@client.bench>\r\n")
	b.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	rng := rand.New(rand.NewPCG(uint64(size), 1))
	if size <= 16<<10 {
		b.WriteString("\r\n")
		writeProse(&b, rng, size)
		return b.Bytes()
	}
	const boundary = "bench-boundary-1"
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	writeProse(&b, rng, b.Len()+2<<10)
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	raw := make([]byte, max(0, size-b.Len())*3/4)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.WriteString(enc[:n] + "\r\n")
		enc = enc[n:]
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// writeProse appends lines of words from proseWords until b holds about size bytes.
func writeProse(b *bytes.Buffer, rng *rand.Rand, size int) {
	line := 0
	for b.Len() < size {
		w := proseWords[rng.IntN(len(proseWords))]
		if line > 0 && line+1+len(w) > 72 {
			b.WriteString("\r\n")
			line = 0
		}
		if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
}

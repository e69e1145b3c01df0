package mailauth

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMAlgorithm is a DKIM key type (RFC 6376 3.3, RFC 8463).
type DKIMAlgorithm string

// Key types. Ed25519 signatures are short and fast but not yet verified everywhere, so a
// domain commonly signs with both.
const (
	DKIMEd25519 DKIMAlgorithm = "ed25519"
	DKIMRSA     DKIMAlgorithm = "rsa"
)

// RSAKeyBits is the size of generated RSA keys (RFC 8301 3.2: at least 1024 bits, 2048
// SHOULD be used).
const RSAKeyBits = 2048

// signedFields are the header fields a signature covers when present (RFC 6376 5.4.1's
// list, plus the MIME and identity fields, and List-Unsubscribe-Post which RFC 8058 3
// requires signed). Trace and transport fields are left out (RFC 6376 5.4: Received,
// Return-Path).
var signedFields = []string{
	"From", "Sender", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Message-ID",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive",
}

// oversigned fields are listed once more than they occur, so that adding another instance
// (a second From that a display might show) breaks the signature (RFC 6376 8.15, 5.4.2).
// These are the fields RFC 5322 3.6 allows at most once.
var oversigned = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "subject": true, "date": true, "to": true,
	"cc": true, "message-id": true, "in-reply-to": true, "references": true,
	"mime-version": true, "content-type": true, "content-transfer-encoding": true,
}

// DKIMKey is one signing key of a domain.
type DKIMKey struct {
	Domain   string // d=, the signing domain
	Selector string // s=
	Signer   crypto.Signer
}

// GenerateDKIMKey returns a new private key of the given type.
func GenerateDKIMKey(alg DKIMAlgorithm) (crypto.Signer, error) {
	switch alg {
	case DKIMEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case DKIMRSA:
		return rsa.GenerateKey(rand.Reader, RSAKeyBits)
	default:
		return nil, fmt.Errorf("dkim: unknown key algorithm %q", alg)
	}
}

// MarshalDKIMKey encodes a private key as a PEM "PRIVATE KEY" block (PKCS #8) for storage.
func MarshalDKIMKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("dkim: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseDKIMKey decodes a PEM private key: PKCS #8 (Ed25519 or RSA) or PKCS #1 RSA, the
// forms opendkim and rspamd keys come in.
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("dkim: no PEM block in key")
	}
	var key any
	var err error
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: parse key: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("dkim: unsupported key type %T", key)
	}
}

// DKIMRecordName returns the DNS name of a key record: selector._domainkey.domain
// (RFC 6376 3.6.2.1).
func DKIMRecordName(selector, domain string) string {
	return selector + "._domainkey." + domain
}

// DKIMRecord returns the TXT record text that publishes a public key (RFC 6376 3.6.1):
// "v=DKIM1; k=ed25519; p=<32 octets, base64>" (RFC 8463 4), or for RSA
// "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo, base64>" (the form every verifier reads,
// RFC 6376 erratum 3017). Records longer than 255 octets go out as several strings of one
// TXT record (RFC 7208 3.3 style; DNS servers and zone files do this).
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("dkim: marshal public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	default:
		return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
	}
}

// DKIMZoneRecord returns the key record as a zone file line (RFC 1035 5.1), the text
// split into quoted strings of at most 255 octets (RFC 1035 3.3.14: a TXT
// character-string is at most 255 octets; RSA-2048 records are about 410):
//
//	sel._domainkey.example.com. IN TXT ("v=DKIM1; k=rsa; p=MIIB..." "...")
func DKIMZoneRecord(selector, domain string, pub crypto.PublicKey) (string, error) {
	rec, err := DKIMRecord(pub)
	if err != nil {
		return "", err
	}
	var parts []string
	for len(rec) > 255 {
		parts, rec = append(parts, `"`+rec[:255]+`"`), rec[255:]
	}
	parts = append(parts, `"`+rec+`"`)
	return DKIMRecordName(selector, domain) + ". IN TXT (" + strings.Join(parts, " ") + ")", nil
}

// SignDKIM reads a message once from msg and returns one DKIM-Signature field per key, in
// key order, each ending in CRLF: the caller prepends them to the unchanged message.
// Signatures use relaxed/relaxed canonicalization (RFC 6376 3.4.2, 3.4.4: survives the
// re-folding and trailing-space changes relays make) and SHA-256, cover the fields of
// signedFields that are present and oversign the singletons (oversigned). The body is
// streamed through the hashes; only the header is held.
func SignDKIM(msg io.Reader, keys ...DKIMKey) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("dkim: no signing key")
	}
	br := bufio.NewReaderSize(msg, 32<<10)
	hdr, names, err := readHeaderBlock(br)
	if err != nil {
		return "", err
	}
	fields := headerKeys(names)
	signers := make([]*dkim.Signer, 0, len(keys))
	writers := make([]io.Writer, 0, len(keys))
	for _, k := range keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             fields,
		})
		if err != nil {
			return "", errors.Join(err, closeSigners(signers))
		}
		signers, writers = append(signers, s), append(writers, s)
	}
	w := io.MultiWriter(writers...)
	_, err = w.Write(hdr)
	if err == nil {
		_, err = io.Copy(w, br)
	}
	if err = errors.Join(err, closeSigners(signers)); err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	var out strings.Builder
	for _, s := range signers {
		out.WriteString(s.Signature())
	}
	return out.String(), nil
}

// closeSigners closes every signer (each runs a goroutine until closed).
func closeSigners(signers []*dkim.Signer) error {
	var errs []error
	for _, s := range signers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// headerKeys returns the h= list for a header with the given field names (RFC 6376 5.4):
// each signed field once per occurrence, oversigned ones once more.
func headerKeys(names []string) []string {
	count := map[string]int{}
	for _, n := range names {
		count[strings.ToLower(n)]++
	}
	var keys []string
	for _, f := range signedFields {
		n := count[strings.ToLower(f)]
		if oversigned[strings.ToLower(f)] {
			n++
		}
		for range n {
			keys = append(keys, f)
		}
	}
	return keys
}

// readHeaderBlock reads the header up to and including the empty line that ends it, and
// the field names in it. A message that is all header gets the empty line added (the
// signature then covers an empty body, RFC 6376 3.4.4). The header is bounded by
// maxHeaderBytes.
func readHeaderBlock(br *bufio.Reader) ([]byte, []string, error) {
	var hdr bytes.Buffer
	var names []string
	for {
		line, err := readLine(br, int64(maxHeaderBytes-hdr.Len()))
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		if len(line) == 0 || isBlankLine(line) {
			hdr.WriteString("\r\n")
			return hdr.Bytes(), names, nil
		}
		hdr.Write(line)
		if hdr.Len() >= maxHeaderBytes {
			return nil, nil, errors.New("dkim: header too large to sign")
		}
		if line[0] != ' ' && line[0] != '\t' {
			if name, _, ok := bytes.Cut(line, []byte(":")); ok {
				names = append(names, string(bytes.TrimSpace(name)))
			}
		}
		if errors.Is(err, io.EOF) {
			hdr.WriteString("\r\n") // a last line without a line break needs one before the empty line
			hdr.WriteString("\r\n")
			return hdr.Bytes(), names, nil
		}
	}
}

// Package mailets holds mailgrid's built-in mailets (package filter's Mailet):
//
//	AuthResults  (DATA) SPF, DKIM and DMARC (package mailauth); strips forged
//	             Authentication-Results claiming our authserv-id (RFC 8601 5) and
//	             prepends ours; optionally enforces a DMARC p=reject (RFC 7489 6.6.3)
//	Virus        (any stage) clamd INSTREAM scan (package clamd): infected →
//	             quarantine; unscannable (size limit, errors) → the rule's Policy,
//	             never "clean"
//	Rspamd       (DATA) rspamd /checkv2 (package rspamd): reject → 5xx, soft reject
//	             and greylist → 4xx, add header / rewrite subject → X-Spam-* headers
//	             (and Junk at the local stage), discard → drop, quarantine → held
//	Bayes        (local) the account's own classifier (package bayes) with its spam
//	             level and training data from filter.Settings and filter.Tokens; spam
//	             (or rspamd's flag) → the Junk mailbox
//	Sieve        (local) the account's active script (package sieve) from
//	             filter.SieveScripts: keep, fileinto, discard, redirect, reject,
//	             vacation (replies remembered in filter.Vacations, RFC 5230 4.2)
//	DKIMSign     (remote) a DKIM-Signature (RFC 6376) per active key of the
//	             authenticated submitter's domain (package dkimkeys)
//
// Each mailet holds configuration and clients only; per-message state lives in the
// filter.Mail. Each one that calls an external service takes its timeout from the
// client it wraps and the Rule around it, and reports failures as errors so the rule's
// failure Policy applies; each also implements filter.HealthChecker.
package mailets

import (
	"strings"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

// Header fields the spam mailets write. A message arriving with them has them removed
// first at the DATA stage: only ours are believed.
const (
	HeaderSpamFlag   = "X-Spam-Flag"   // "YES" when a mailet judged the message spam
	HeaderSpamStatus = "X-Spam-Status" // "Yes|No, score=S required=R action=A" (rspamd)
	HeaderBayes      = "X-Mailgrid-Bayes"
	HeaderVirus      = "X-Mailgrid-Virus"
)

// JunkMailbox is where spam is filed: the special-use role \Junk (RFC 6154), which the
// delivery pipeline turns into the name of the account's Junk mailbox, however the user
// renamed it (package delivery, specialuse.go).
const JunkMailbox = store.Junk

// isSpamFlagged reports whether an earlier mailet of ours flagged the message as spam.
func isSpamFlagged(m *filter.Mail) (bool, error) {
	vals, err := m.Message.Header(HeaderSpamFlag)
	if err != nil {
		return false, err
	}
	for _, v := range vals {
		if strings.EqualFold(v, "YES") {
			return true, nil
		}
	}
	return false, nil
}

func active(m *filter.Mail) []*filter.Recipient {
	var out []*filter.Recipient
	for _, r := range m.Recipients {
		if !r.Final() {
			out = append(out, r)
		}
	}
	return out
}

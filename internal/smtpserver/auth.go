package smtpserver

import (
	"errors"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgrid/internal/directory"
)

// AUTH (RFC 4954) on the submission service, after TLS only. Mechanisms: PLAIN
// (RFC 4616, go-sasl) and LOGIN (the de-facto mechanism many clients still use: base64
// "Username:" and "Password:" prompts, no RFC).

var (
	errAuthNotOffered = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Authentication not enabled on this service"}
	// RFC 4954 4 and 6: 538 5.7.11 encryption required for requested authentication mechanism.
	errAuthNeedsTLS  = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for authentication, use STARTTLS first"}
	errAuthTemporary = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	errAuthIdentity  = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authorization identity must match the login"}
	// The submission service switch (directory.ServiceSubmission) is off for the account
	// or its domain: the AUTH fails as Postfix with Dovecot SASL fails it when the passdb
	// denies the service (RFC 4954 6: 535 5.7.8), so clients treat it as a permanent
	// authentication failure and send nothing. It is said only after the right password.
	errSubmissionOff = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication refused: mail submission is disabled for this account"}
)

// AuthMechanisms implements smtp.AuthSession: advertised in EHLO on submission after TLS.
func (sess *session) AuthMechanisms() []string {
	if sess.srv.opt.Mode != ModeSubmission || sess.tls == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (sess *session) Auth(mech string) (sasl.Server, error) {
	if sess.srv.opt.Mode != ModeSubmission {
		return nil, sess.fail(errAuthNotOffered)
	}
	if sess.tls == nil {
		return nil, sess.fail(errAuthNeedsTLS)
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return sess.fail(errAuthIdentity)
			}
			return sess.authenticate(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: sess.authenticate}, nil
	}
	return nil, sess.fail(smtp.ErrAuthUnknownMechanism)
}

func (sess *session) authenticate(user, pass string) error {
	acct, err := sess.srv.opt.Directory.Authenticate(sess.ctx(), user, pass)
	switch {
	case errors.Is(err, directory.ErrAuthFailed), errors.Is(err, directory.ErrDisabled):
		sess.log.Info("authentication failed", "user", user, "err", err)
		return sess.fail(smtp.ErrAuthFailed) // 535 5.7.8, the same for both: no account probing
	case err != nil:
		sess.log.Error("authentication", "user", user, "err", err)
		return errAuthTemporary
	}
	if err := sess.serviceAllowed(acct); err != nil {
		return err
	}
	sess.acct = &acct
	sess.log = sess.log.With("user", acct.Address.String())
	sess.log.Info("authenticated")
	return nil
}

// serviceAllowed applies the directory's submission switch to a verified account: its
// domain is read afresh, so a switch set on any node binds the next AUTH.
func (sess *session) serviceAllowed(acct directory.Account) error {
	dom, err := sess.srv.opt.Directory.Domain(sess.ctx(), acct.Address.Domain)
	if err != nil {
		sess.log.Error("authentication: read the account's domain", "user", acct.Address.String(), "err", err)
		return errAuthTemporary
	}
	if !directory.ServiceAllowed(dom, acct, directory.ServiceSubmission) {
		sess.log.Info("authentication refused: submission disabled", "user", acct.Address.String(),
			"domain_off", dom.DisabledServices, "account_off", acct.DisabledServices)
		return sess.fail(errSubmissionOff)
	}
	return nil
}

// loginServer is the server side of AUTH LOGIN. An initial response, if any, is the user
// name (as sent by "AUTH LOGIN <base64 user>").
type loginServer struct {
	check func(user, pass string) error
	state int
	user  string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.state {
	case 0:
		if response == nil {
			l.state = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.state = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.state = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, errors.New("unexpected AUTH LOGIN response")
}

package managesieve

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sieve"
)

// The script commands of the authenticated state (RFC 5804 2.5-2.12), over
// filter.SieveScripts for the logged-in account.

// maxNameChars is the longest script name in characters (RFC 5804 1.6: servers MUST
// allow 128 and may refuse longer ones, never truncate).
const maxNameChars = 128

// scriptName validates a script name (RFC 5804 1.6) and returns its NFC form, the form
// it is stored and looked up under.
func scriptName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", &Error{Text: "Invalid script name: not UTF-8"}
	}
	name = norm.NFC.String(name)
	switch {
	case name == "":
		return "", &Error{Text: "Invalid script name: empty"}
	case strings.IndexFunc(name, badNameRune) >= 0:
		return "", &Error{Text: "Invalid script name: control characters are not allowed"}
	case utf8.RuneCountInString(name) > maxNameChars:
		return "", &Error{Text: fmt.Sprintf("Invalid script name: longer than %d characters", maxNameChars)}
	}
	return name, nil
}

// badNameRune: RFC 5804 1.6 forbids U+0000-001F, U+007F-009F, U+2028 and U+2029.
func badNameRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// compile validates a script with the server's Sieve options. Errors name the line and
// column of the first problem (RFC 5804 2.6: the message SHOULD give the line).
func (s *session) compile(src string) error {
	if int64(len(src)) > s.srv.opt.MaxScriptSize {
		return s.tooBig(int64(len(src)))
	}
	_, err := sieve.Compile(src, s.srv.opt.Sieve)
	if err == nil {
		return nil
	}
	var se *sieve.Error
	if errors.As(err, &se) {
		return &Error{Text: fmt.Sprintf("line %d, column %d: %s", se.Pos.Line, se.Pos.Col, se.Msg)}
	}
	return &Error{Text: err.Error()}
}

func (s *session) tooBig(size int64) error {
	return &Error{Code: codeMaxSize, Text: fmt.Sprintf("Script of %d octets is over the limit of %d", size, s.srv.opt.MaxScriptSize)}
}

// roomFor refuses a new script name once the account has MaxScripts scripts
// (RFC 5804 1.5 quotas); replacing an existing script is always allowed.
func (s *session) roomFor(name string) error {
	list, err := s.srv.opt.Scripts.Scripts(s.ctx, s.ref)
	if err != nil {
		return s.storeFault("list scripts", err)
	}
	for _, sc := range list {
		if sc.Name == name {
			return nil
		}
	}
	if len(list) >= s.srv.opt.MaxScripts {
		return &Error{Code: codeMaxScripts, Text: fmt.Sprintf("Too many scripts (at most %d)", s.srv.opt.MaxScripts)}
	}
	return nil
}

// storeFault maps an error of the script store: the known ones to their response
// codes, anything else to TRYLATER (logged).
func (s *session) storeFault(what string, err error) error {
	switch {
	case errors.Is(err, filter.ErrNotFound):
		return errNoScript
	case errors.Is(err, filter.ErrActive):
		return &Error{Code: codeActive, Text: "You may not delete an active script"}
	case errors.Is(err, filter.ErrExists):
		return &Error{Code: codeAlreadyExists, Text: "A script with that name already exists"}
	case errors.Is(err, filter.ErrInvalid):
		return &Error{Text: "Invalid script name"}
	}
	s.log.Error(what, "err", err)
	return errTemp
}

func (s *session) ok(text string) error { return s.c.reply(response("OK", "", text)) }

// cmdHaveSpace tells whether a script of that name and size would be accepted
// (RFC 5804 2.5).
func (s *session) cmdHaveSpace(cmd *command) error {
	a, err := args(cmd, 0, argString, argNumber)
	if err != nil {
		return err
	}
	name, err := scriptName(a[0].s)
	if err != nil {
		return err
	}
	if int64(a[1].n) > s.srv.opt.MaxScriptSize {
		return s.tooBig(int64(a[1].n))
	}
	if err := s.roomFor(name); err != nil {
		return err
	}
	return s.ok("Putscript would succeed")
}

// cmdPutScript stores a script that compiles; one that does not is refused and
// nothing is stored (RFC 5804 2.6).
func (s *session) cmdPutScript(cmd *command) error {
	a, err := args(cmd, 0, argString, argString)
	if err != nil {
		return err
	}
	name, err := scriptName(a[0].s)
	if err != nil {
		return err
	}
	if err := s.compile(a[1].s); err != nil {
		return err
	}
	if err := s.roomFor(name); err != nil {
		return err
	}
	if err := s.srv.opt.Scripts.PutScript(s.ctx, s.ref, name, a[1].s); err != nil {
		return s.storeFault("put script", err)
	}
	s.log.Info("script stored", "script", name, "octets", len(a[1].s))
	return s.ok("Putscript completed")
}

// cmdCheckScript compiles a script without storing it (RFC 5804 2.12).
func (s *session) cmdCheckScript(cmd *command) error {
	a, err := args(cmd, 0, argString)
	if err != nil {
		return err
	}
	if err := s.compile(a[0].s); err != nil {
		return err
	}
	return s.ok("Script is valid")
}

// cmdListScripts lists the account's scripts, the active one marked ACTIVE
// (RFC 5804 2.7).
func (s *session) cmdListScripts(cmd *command) error {
	if _, err := args(cmd, 0); err != nil {
		return err
	}
	list, err := s.srv.opt.Scripts.Scripts(s.ctx, s.ref)
	if err != nil {
		return s.storeFault("list scripts", err)
	}
	for _, sc := range list {
		line := encodeString(sc.Name)
		if sc.Active {
			line += " ACTIVE"
		}
		if err := s.c.reply(line); err != nil {
			return err
		}
	}
	return s.ok("Listscripts completed")
}

// cmdSetActive activates a script, or deactivates every script for "" (RFC 5804 2.8).
// The script is compiled again first: the server's extensions may have narrowed since
// it was stored.
func (s *session) cmdSetActive(cmd *command) error {
	a, err := args(cmd, 0, argString)
	if err != nil {
		return err
	}
	name := ""
	if a[0].s != "" {
		if name, err = scriptName(a[0].s); err != nil {
			return err
		}
		src, err := s.srv.opt.Scripts.Script(s.ctx, s.ref, name)
		if err != nil {
			return s.storeFault("read script", err)
		}
		if err := s.compile(src); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Text = "Script does not compile: " + e.Text
			}
			return err
		}
	}
	if err := s.srv.opt.Scripts.SetActive(s.ctx, s.ref, name); err != nil {
		return s.storeFault("set active", err)
	}
	s.log.Info("active script set", "script", name)
	return s.ok("Setactive completed")
}

// cmdGetScript returns a script's source as a literal (RFC 5804 2.9).
func (s *session) cmdGetScript(cmd *command) error {
	a, err := args(cmd, 0, argString)
	if err != nil {
		return err
	}
	name, err := scriptName(a[0].s)
	if err != nil {
		return err
	}
	src, err := s.srv.opt.Scripts.Script(s.ctx, s.ref, name)
	if err != nil {
		return s.storeFault("read script", err)
	}
	if err := s.c.reply("{" + strconv.Itoa(len(src)) + "}\r\n" + src); err != nil {
		return err
	}
	return s.ok("Getscript completed")
}

// cmdDeleteScript deletes a script that is not the active one (RFC 5804 2.10).
func (s *session) cmdDeleteScript(cmd *command) error {
	a, err := args(cmd, 0, argString)
	if err != nil {
		return err
	}
	name, err := scriptName(a[0].s)
	if err != nil {
		return err
	}
	if err := s.srv.opt.Scripts.DeleteScript(s.ctx, s.ref, name); err != nil {
		return s.storeFault("delete script", err)
	}
	s.log.Info("script deleted", "script", name)
	return s.ok("Deletescript completed")
}

// cmdRenameScript renames a script; the active one stays active (RFC 5804 2.11).
func (s *session) cmdRenameScript(cmd *command) error {
	a, err := args(cmd, 0, argString, argString)
	if err != nil {
		return err
	}
	from, err := scriptName(a[0].s)
	if err != nil {
		return err
	}
	to, err := scriptName(a[1].s)
	if err != nil {
		return err
	}
	if err := s.srv.opt.Scripts.RenameScript(s.ctx, s.ref, from, to); err != nil {
		return s.storeFault("rename script", err)
	}
	s.log.Info("script renamed", "from", from, "to", to)
	return s.ok("Renamescript completed")
}

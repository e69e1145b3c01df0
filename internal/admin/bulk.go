package admin

// Bulk operations on a domain's users: CSV import and export (RFC 4180 files, as
// spreadsheets write them), for moving a customer in or out.
//
// Import is checked whole before anything is created: syntax, addresses in the domain,
// no address twice, none taken by an account or an alias, roles the actor may grant,
// quotas and the user count within the domain's limits (and so its plan). Any problem
// refuses the file with the line numbers, and nothing changes. Creation then goes row by
// row through CreateAccount (audited each); should one still fail (a concurrent change),
// the rows before it stay created and the error names how many.
//
// Columns (a header row names them, any order, case-insensitive):
//   address (required); password or password_hash (one per row; a hash is an argon2id
//   PHC or bcrypt string, directory.ValidHash); quota (bytes, or with a K/M/G/T suffix);
//   quota_messages; role (user, domain-admin); disabled_services and admin_domains
//   (separated by ";" or spaces). Export writes address, role, enabled, quota_bytes,
//   quota_messages, disabled_services, admin_domains, created_at; importing an export
//   ignores enabled and created_at and needs a password column added.

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Import bounds.
const (
	MaxImportRows  = 10000
	MaxImportBytes = 8 << 20
)

// ImportRow is one account of an import file.
type ImportRow struct {
	Line         int // 1-based line of the file (the header is line 1)
	Account      directory.NewAccount
	PasswordHash string // set instead of Account.Password
}

// passwordHashSetter is the directory add-on that stores an imported hash.
type passwordHashSetter interface {
	SetPasswordHash(ctx context.Context, addr mail.Address, hash string) error
}

var importColumns = map[string]bool{"address": true, "password": true, "password_hash": true, "quota": true,
	"quota_bytes": true, "quota_messages": true, "role": true, "disabled_services": true, "admin_domains": true,
	"enabled": false, "created_at": false} // false: read from an export, ignored

// lineErrors collects problems by line, reporting the first few.
type lineErrors struct {
	n    int
	msgs []string
}

func (l *lineErrors) add(line int, format string, args ...any) {
	l.n++
	if len(l.msgs) < 20 {
		l.msgs = append(l.msgs, fmt.Sprintf("line %d: %s", line, fmt.Sprintf(format, args...)))
	}
}

func (l *lineErrors) err(kind error) error {
	if l.n == 0 {
		return nil
	}
	more := ""
	if l.n > len(l.msgs) {
		more = fmt.Sprintf(" (and %d more)", l.n-len(l.msgs))
	}
	return fmt.Errorf("%w: %s%s", kind, strings.Join(l.msgs, "; "), more)
}

// ParseAccountsCSV reads an import file for domain (ASCII name). Every syntax problem is
// reported at once (ErrInvalid), with line numbers.
func ParseAccountsCSV(r io.Reader, domain string) ([]ImportRow, error) {
	cr := csv.NewReader(io.LimitReader(r, MaxImportBytes+1))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty file: want a header row (address,password,...)", directory.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: csv: %v", directory.ErrInvalid, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, ok := importColumns[h]; !ok {
			return nil, fmt.Errorf("%w: line 1: unknown column %q", directory.ErrInvalid, h)
		}
		col[h] = i
	}
	if _, ok := col["address"]; !ok {
		return nil, fmt.Errorf("%w: line 1: no address column", directory.ErrInvalid)
	}
	var rows []ImportRow
	var bad lineErrors
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: csv: %v", directory.ErrInvalid, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows) == MaxImportRows {
			return nil, fmt.Errorf("%w: more than %d rows", directory.ErrInvalid, MaxImportRows)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue // a blank line
		}
		row, err := parseImportRow(get, domain)
		if err != nil {
			bad.add(line, "%v", err)
			continue
		}
		row.Line = line
		rows = append(rows, row)
	}
	if err := bad.err(directory.ErrInvalid); err != nil {
		return nil, err
	}
	return rows, nil
}

func parseImportRow(get func(string) string, domain string) (ImportRow, error) {
	var row ImportRow
	addr, err := mail.Parse(get("address"))
	if err != nil {
		return row, fmt.Errorf("address %q: %v", get("address"), err)
	}
	if addr.Domain != domain {
		return row, fmt.Errorf("address %s is not in %s", addr, domain)
	}
	n := directory.NewAccount{Address: addr, Password: get("password"), Role: directory.Role(get("role"))}
	if n.Role == "" {
		n.Role = directory.RoleUser
	}
	if !n.Role.Valid() {
		return row, fmt.Errorf("role %q", n.Role)
	}
	row.PasswordHash = get("password_hash")
	switch {
	case n.Password == "" && row.PasswordHash == "":
		return row, errors.New("no password or password_hash")
	case n.Password != "" && row.PasswordHash != "":
		return row, errors.New("both password and password_hash")
	case len(n.Password) > directory.MaxPasswordLen:
		return row, fmt.Errorf("password longer than %d bytes", directory.MaxPasswordLen)
	case row.PasswordHash != "" && !directory.ValidHash(row.PasswordHash):
		return row, errors.New("password_hash is not an argon2id or bcrypt hash")
	}
	if q := get("quota"); q != "" {
		if n.QuotaBytes, err = ParseSize(q); err != nil {
			return row, fmt.Errorf("quota: %v", err)
		}
	}
	if q := get("quota_bytes"); q != "" {
		if n.QuotaBytes, err = strconv.ParseInt(q, 10, 64); err != nil || n.QuotaBytes < 0 {
			return row, fmt.Errorf("quota_bytes %q", q)
		}
	}
	if q := get("quota_messages"); q != "" {
		if n.QuotaMessages, err = strconv.ParseInt(q, 10, 64); err != nil || n.QuotaMessages < 0 {
			return row, fmt.Errorf("quota_messages %q", q)
		}
	}
	if n.DisabledServices, err = directory.NormServices(splitField(get("disabled_services"))); err != nil {
		return row, err
	}
	for _, d := range splitField(get("admin_domains")) {
		a, err := mail.ParseDomain(d)
		if err != nil {
			return row, fmt.Errorf("admin domain %q: %v", d, err)
		}
		n.AdminDomains = append(n.AdminDomains, a)
	}
	row.Account = n
	return row, nil
}

func splitField(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ' ' || r == ',' })
}

// ParseSize reads a size: bytes, or a number with a K, M, G or T suffix (binary
// multiples, an optional trailing B); "" is 0.
func ParseSize(v string) (int64, error) {
	v = strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(v)), "B")
	if v == "" {
		return 0, nil
	}
	mult := int64(1)
	if i := strings.IndexByte("KMGT", v[len(v)-1]); i >= 0 {
		mult, v = int64(1)<<(10*(i+1)), strings.TrimSpace(v[:len(v)-1])
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%w: size %q (want e.g. 500M or 2G)", directory.ErrInvalid, v)
	}
	return n * mult, nil
}

// ImportAccounts creates rows in domain after checking them all (see the file comment).
// It returns the accounts created.
func (c *Scoped) ImportAccounts(ctx context.Context, domain string, rows []ImportRow) ([]directory.Account, error) {
	name, err := c.visibleDomain(domain)
	if err != nil {
		return nil, err
	}
	if err := c.checkImport(ctx, name, rows); err != nil {
		return nil, err
	}
	hs, _ := c.s.Dir.(passwordHashSetter)
	var out []directory.Account
	for _, row := range rows {
		n := row.Account
		if row.PasswordHash != "" {
			if hs == nil {
				return out, fmt.Errorf("%w: the directory cannot import password hashes", directory.ErrInvalid)
			}
			n.Password = rand.Text() // replaced by the hash right after
		}
		a, err := c.CreateAccount(ctx, n)
		if err == nil && row.PasswordHash != "" {
			err = hs.SetPasswordHash(ctx, a.Address, row.PasswordHash)
		}
		if a.ID != 0 {
			out = append(out, a)
		}
		if err != nil {
			return out, fmt.Errorf("created %d of %d accounts; line %d (%s): %w", len(out), len(rows), row.Line, n.Address, err)
		}
	}
	c.Record(ctx, "domain.import", name, name, fmt.Sprintf("%d accounts", len(out)))
	return out, nil
}

// checkImport applies every check of an import before anything is created.
func (c *Scoped) checkImport(ctx context.Context, domain string, rows []ImportRow) error {
	if len(rows) == 0 {
		return fmt.Errorf("%w: no accounts in the file", directory.ErrInvalid)
	}
	d, err := c.s.Dir.Domain(ctx, domain)
	if err != nil {
		return err
	}
	existing, err := c.s.Dir.Accounts(ctx, domain)
	if err != nil {
		return err
	}
	aliases, err := c.s.Dir.Aliases(ctx, domain)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, a := range existing {
		taken[a.Address.Key()] = true
	}
	for _, al := range aliases {
		taken[al.Source] = true
	}
	var forbidden, invalid, exists, limit lineErrors
	seen := map[string]int{}
	for _, row := range rows {
		n := row.Account
		key := n.Address.Key()
		switch {
		case seen[key] != 0:
			invalid.add(row.Line, "%s also on line %d", n.Address, seen[key])
		case taken[key]:
			exists.add(row.Line, "%s exists", n.Address)
		}
		seen[key] = row.Line
		if err := c.a.CheckCreateAccount(n); err != nil {
			forbidden.add(row.Line, "%v", err)
		}
		if d.MaxQuotaBytes > 0 && n.QuotaBytes > d.MaxQuotaBytes {
			limit.add(row.Line, "quota %d above the domain's %d", n.QuotaBytes, d.MaxQuotaBytes)
		}
	}
	if d.MaxUsers > 0 && len(existing)+len(rows) > d.MaxUsers {
		limit.add(1, "%d accounts + %d would exceed the domain's %d", len(existing), len(rows), d.MaxUsers)
	}
	return errors.Join(forbidden.err(ErrForbidden), invalid.err(directory.ErrInvalid),
		exists.err(directory.ErrExists), limit.err(directory.ErrLimit))
}

// ExportAccounts writes the accounts of domain as CSV (no passwords, no hashes).
func (c *Scoped) ExportAccounts(ctx context.Context, domain string, w io.Writer) error {
	as, err := c.Accounts(ctx, domain)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"address", "role", "enabled", "quota_bytes", "quota_messages",
		"disabled_services", "admin_domains", "created_at"}); err != nil {
		return err
	}
	for _, a := range as {
		if err := cw.Write([]string{a.Address.String(), string(a.Role), strconv.FormatBool(a.Enabled),
			strconv.FormatInt(a.QuotaBytes, 10), strconv.FormatInt(a.QuotaMessages, 10),
			strings.Join(a.DisabledServices, ";"), strings.Join(a.AdminDomains, ";"),
			a.CreatedAt.UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

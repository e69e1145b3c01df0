package admin

import (
	"context"
	"strings"

	"mailgrid/internal/directory"
)

// SearchAccounts lists the accounts the actor administers whose address contains query
// (case-insensitive; "" matches all), in the directory's order, at most limit of them
// (limit <= 0: all). A system admin searches every domain, a domain admin its domains,
// a user finds only itself.
func (c *Scoped) SearchAccounts(ctx context.Context, query string, limit int) ([]directory.Account, error) {
	var all []directory.Account
	switch vis := c.a.VisibleDomains(); {
	case vis == nil:
		as, err := c.s.Dir.Accounts(ctx, "")
		if err != nil {
			return nil, err
		}
		all = as
	case len(vis) == 0:
		all = []directory.Account{c.a.Account}
	default:
		for _, d := range vis {
			as, err := c.s.Dir.Accounts(ctx, d)
			if err != nil {
				return nil, err
			}
			all = append(all, as...)
		}
	}
	q := strings.ToLower(strings.TrimSpace(query))
	out := make([]directory.Account, 0, len(all))
	for _, a := range all {
		if q != "" && !strings.Contains(strings.ToLower(a.Address.String()), q) {
			continue
		}
		out = append(out, a)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

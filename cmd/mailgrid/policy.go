package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// The filter policy commands: block lists, domain rules and the quarantine. Each opens
// the filter state the server uses (DATA/filter, or the directory database in a
// cluster), so a change binds the running server at its next message. Every change is
// recorded in the audit log.

// withFilters opens the installation and its filter state, runs fn and closes both.
func (e *env) withFilters(ctx context.Context, fn func(*app.System, *app.FilterAdmin) error) error {
	return e.withSystem(ctx, func(s *app.System) error {
		fa, err := s.OpenFilterAdmin(ctx)
		if err != nil {
			return err
		}
		return errors.Join(fn(s, fa), fa.Close())
	})
}

// scopeName is how a block list or rule set is named in output: its domain, or "system".
func scopeName(domain string) string {
	if domain == "" {
		return "system"
	}
	return domain
}

type blockView struct {
	Domain  string    `json:"domain"` // "" = the system list
	Kind    string    `json:"kind"`
	Value   string    `json:"value"`
	Note    string    `json:"note,omitempty"`
	Created time.Time `json:"created"`
}

func blockCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "block", Short: "Manage block lists (sender, sender-domain, ip; system-wide or per --domain)",
		Long: "Block lists refuse mail during the SMTP session: a client IP or CIDR prefix at MAIL, a sender\n" +
			"address or sender domain at MAIL (system list) or RCPT (a domain's list, for its recipients)."}
	var domain string
	c.PersistentFlags().StringVar(&domain, "domain", "", "the domain's list (default: the system-wide list)")
	var note string
	add := &cobra.Command{
		Use: "add KIND VALUE", Short: "Block a sender, sender-domain or ip (address or CIDR)", Args: cobra.ExactArgs(2),
		Example: "  mailgrid block add sender-domain spam.example\n  mailgrid block add ip 192.0.2.0/24 --domain example.com",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				b, err := fa.Policy.AddBlock(cmd.Context(), domain, args[0], args[1], note)
				if err != nil {
					return err
				}
				cli(s).Record(cmd.Context(), "block.add", b.Domain, b.Kind.String()+" "+b.Value, b.Note)
				return e.printBlocks([]filter.BlockEntry{b})
			})
		},
	}
	add.Flags().StringVar(&note, "note", "", "why (shown to administrators only)")
	del := &cobra.Command{
		Use: "del KIND VALUE", Short: "Remove an entry", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				if err := fa.Policy.RemoveBlock(cmd.Context(), domain, args[0], args[1]); err != nil {
					return err
				}
				cli(s).Record(cmd.Context(), "block.remove", domain, args[0]+" "+args[1], "")
				fmt.Fprintf(e.stdout, "removed %s %s from the %s list\n", args[0], args[1], scopeName(domain))
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List a block list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				bs, err := fa.Policy.ListBlocks(cmd.Context(), domain)
				if err != nil {
					return err
				}
				return e.printBlocks(bs)
			})
		},
	}
	c.AddCommand(add, del, list)
	return c
}

func (e *env) printBlocks(bs []filter.BlockEntry) error {
	vs := make([]blockView, 0, len(bs))
	for _, b := range bs {
		vs = append(vs, blockView{Domain: b.Domain, Kind: b.Kind.String(), Value: b.Value, Note: b.Note, Created: b.Created})
	}
	return e.print(vs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "LIST\tKIND\tVALUE\tNOTE")
		for _, v := range vs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", scopeName(v.Domain), v.Kind, v.Value, dash(v.Note))
		}
	})
}

// parseCondition reads "FIELD [not] OP [VALUE]": FIELD is from, to, subject, size or
// header:NAME; OP contains, is, matches, exists, over, under.
func parseCondition(s string) (filter.Condition, error) {
	var c filter.Condition
	f := strings.Fields(s)
	if len(f) < 2 {
		return c, fmt.Errorf("condition %q: want FIELD [not] OP [VALUE]", s)
	}
	field := f[0]
	if name, ok := strings.CutPrefix(field, "header:"); ok {
		c.Field, c.Header = filter.FieldHeader, name
	} else {
		c.Field = filter.RuleField(strings.ToLower(field))
	}
	rest := f[1:]
	if strings.EqualFold(rest[0], "not") {
		c.Not, rest = true, rest[1:]
	}
	if len(rest) == 0 {
		return c, fmt.Errorf("condition %q: no operator", s)
	}
	c.Op = filter.RuleOp(strings.ToLower(rest[0]))
	// The value is the rest of the text as written (it may hold spaces).
	if len(rest) > 1 {
		i := strings.Index(s, rest[0]) + len(rest[0])
		c.Value = strings.TrimSpace(s[i:])
	}
	if c.Field == filter.FieldSize && c.Value != "" {
		n, err := parseSize(c.Value)
		if err != nil {
			return c, fmt.Errorf("condition %q: %w", s, err)
		}
		c.Value = strconv.FormatInt(n, 10)
	}
	return c, nil
}

type ruleView struct {
	ID         int64              `json:"id"`
	Domain     string             `json:"domain"`
	Name       string             `json:"name"`
	Position   int                `json:"position"`
	Enabled    bool               `json:"enabled"`
	MatchAny   bool               `json:"match_any"`
	Conditions []filter.Condition `json:"conditions"`
	Action     string             `json:"action"`
	Arg        string             `json:"arg,omitempty"`
}

func ruleCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "rule", Short: "Manage domain filter rules (system-wide or per --domain), applied after DATA"}
	var domain string
	c.PersistentFlags().StringVar(&domain, "domain", "", "the domain's rules (default: the system-wide rules)")
	var conds []string
	var r filter.DomainRule
	var action string
	var disabled bool
	add := &cobra.Command{
		Use:   "add NAME --if CONDITION... --action ACTION [--arg ARG]",
		Short: "Add a rule: when its conditions hold (all, or any with --any), the action applies",
		Long: "Conditions: FIELD [not] OP [VALUE], FIELD one of from, to, subject, size, header:NAME;\n" +
			"OP one of contains, is, matches (glob), exists (header), over, under (size, e.g. 10M).\n" +
			"Actions: reject (ARG: reply text), quarantine (ARG: reason), fileinto (ARG: folder),\n" +
			"addheader (ARG: \"Name: value\"), drop.",
		Example: `  mailgrid rule add no-exe --domain example.com --if "header:Content-Type contains .exe" --action reject --arg "no executables"
  mailgrid rule add big --domain example.com --if "size over 20M" --action fileinto --arg Large`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Domain, r.Name, r.Enabled, r.Action = domain, args[0], !disabled, filter.RuleAction(action)
			r.Conditions = nil
			for _, s := range conds {
				c, err := parseCondition(s)
				if err != nil {
					return err
				}
				r.Conditions = append(r.Conditions, c)
			}
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				out, err := fa.Policy.PutRule(cmd.Context(), r)
				if err != nil {
					return err
				}
				cli(s).Record(cmd.Context(), "rule.put", out.Domain, out.Name, fmt.Sprintf("id=%d action=%s", out.ID, out.Action))
				return e.printRules([]filter.DomainRule{out})
			})
		},
	}
	f := add.Flags()
	f.StringArrayVar(&conds, "if", nil, "a condition (repeatable)")
	f.BoolVar(&r.MatchAny, "any", false, "match when any condition holds (default: all)")
	f.StringVar(&action, "action", "", "reject, quarantine, fileinto, addheader or drop")
	f.StringVar(&r.Arg, "arg", "", "the action's argument")
	f.IntVar(&r.Position, "position", 0, "order among the rules (lower runs first)")
	f.BoolVar(&disabled, "disabled", false, "store the rule switched off")
	del := &cobra.Command{
		Use: "del ID", Short: "Remove a rule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("rule id %q: %w", args[0], err)
			}
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				if err := fa.Policy.DeleteRule(cmd.Context(), domain, id); err != nil {
					return err
				}
				cli(s).Record(cmd.Context(), "rule.delete", domain, args[0], "")
				fmt.Fprintf(e.stdout, "deleted rule %d\n", id)
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List rules in the order they run", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				rs, err := fa.Policy.ListRules(cmd.Context(), domain)
				if err != nil {
					return err
				}
				return e.printRules(rs)
			})
		},
	}
	c.AddCommand(add, del, list)
	return c
}

func (e *env) printRules(rs []filter.DomainRule) error {
	vs := make([]ruleView, 0, len(rs))
	for _, r := range rs {
		vs = append(vs, ruleView{ID: r.ID, Domain: r.Domain, Name: r.Name, Position: r.Position, Enabled: r.Enabled,
			MatchAny: r.MatchAny, Conditions: r.Conditions, Action: string(r.Action), Arg: r.Arg})
	}
	return e.print(vs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tRULES\tNAME\tPOS\tON\tWHEN\tACTION")
		for _, v := range vs {
			var cs []string
			for _, c := range v.Conditions {
				field := string(c.Field)
				if c.Field == filter.FieldHeader {
					field += ":" + c.Header
				}
				not := ""
				if c.Not {
					not = "not "
				}
				cs = append(cs, strings.TrimSpace(fmt.Sprintf("%s %s%s %s", field, not, c.Op, c.Value)))
			}
			join := " and "
			if v.MatchAny {
				join = " or "
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%v\t%s\t%s %s\n", v.ID, scopeName(v.Domain), v.Name, v.Position, v.Enabled,
				strings.Join(cs, join), v.Action, v.Arg)
		}
	})
}

type heldView struct {
	ID      int64     `json:"id"`
	Domain  string    `json:"domain"`
	Rcpt    string    `json:"rcpt"`
	From    string    `json:"from"`
	Reason  string    `json:"reason"`
	Mailet  string    `json:"mailet"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

func quarantineCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "quarantine", Short: "List, release and delete quarantined messages"}
	var domain string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List held messages, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if domain != "" {
				d, err := mail.ParseDomain(domain)
				if err != nil {
					return fmt.Errorf("domain %q: %w", domain, err)
				}
				domain = d
			}
			return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
				hs, err := fa.Quarantine.List(cmd.Context(), filter.QuarantineQuery{Domain: domain, Limit: limit})
				if err != nil {
					return err
				}
				vs := make([]heldView, 0, len(hs))
				for _, h := range hs {
					vs = append(vs, heldView{ID: h.ID, Domain: h.Domain, Rcpt: h.Rcpt.String(), From: h.From.String(),
						Reason: h.Reason, Mailet: h.Mailet, Size: h.Size, Created: h.Created})
				}
				return e.print(vs, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "ID\tDOMAIN\tHELD\tRECIPIENT\tSENDER\tSIZE\tREASON")
					for _, v := range vs {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Domain, v.Created.UTC().Format(time.RFC3339),
							v.Rcpt, dash(v.From), formatSize(v.Size, false), v.Reason)
					}
				})
			})
		},
	}
	list.Flags().StringVar(&domain, "domain", "", "only this domain's")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	act := func(use, short, verb string, do func(context.Context, *app.FilterAdmin, string, int64) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " DOMAIN ID", Short: short, Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				d, err := mail.ParseDomain(args[0])
				if err != nil {
					return fmt.Errorf("domain %q: %w", args[0], err)
				}
				id, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil {
					return fmt.Errorf("id %q: %w", args[1], err)
				}
				return e.withFilters(cmd.Context(), func(s *app.System, fa *app.FilterAdmin) error {
					if err := do(cmd.Context(), fa, d, id); err != nil {
						return fmt.Errorf("quarantined message %d of %s: %w", id, d, err)
					}
					cli(s).Record(cmd.Context(), "quarantine."+use, d, args[1], "")
					fmt.Fprintf(e.stdout, "%s %d\n", verb, id)
					return nil
				})
			},
		}
	}
	c.AddCommand(list,
		act("release", "Deliver a held message to its recipient (past the filters) and remove it", "released",
			func(ctx context.Context, fa *app.FilterAdmin, d string, id int64) error {
				return fa.Release(ctx, d, id)
			}),
		act("delete", "Delete a held message", "deleted",
			func(ctx context.Context, fa *app.FilterAdmin, d string, id int64) error {
				return fa.Quarantine.Delete(ctx, d, id)
			}))
	return c
}

package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/directory"
)

// planView is a service plan as printed.
type planView struct {
	Name               string    `json:"name"`
	Description        string    `json:"description,omitempty"`
	MailboxQuotaBytes  int64     `json:"mailbox_quota_bytes"`
	MaxMessageBytes    int64     `json:"max_message_bytes"`
	MaxAttachmentBytes int64     `json:"max_attachment_bytes"`
	MaxUsers           int       `json:"max_users"`
	DisabledServices   []string  `json:"disabled_services"`
	SMS                bool      `json:"sms"`
	Antivirus          bool      `json:"antivirus"`
	Antispam           bool      `json:"antispam"`
	Domains            []string  `json:"domains,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
}

func viewPlan(p directory.Plan, domains []string) planView {
	return planView{Name: p.Name, Description: p.Description, MailboxQuotaBytes: p.MailboxQuotaBytes,
		MaxMessageBytes: p.MaxMessageBytes, MaxAttachmentBytes: p.MaxAttachmentBytes, MaxUsers: p.MaxUsers,
		DisabledServices: append([]string{}, p.DisabledServices...), SMS: p.SMS, Antivirus: p.Antivirus,
		Antispam: p.Antispam, Domains: domains, CreatedAt: p.CreatedAt}
}

func planCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "plan", Short: "Manage service plans (limits and features assigned to domains)"}
	c.AddCommand(planAddCmd(e), planListCmd(e), planShowCmd(e), planSetCmd(e), planDelCmd(e), planAssignCmd(e))
	return c
}

// planFlags are the limits and features of plan add and plan set.
type planFlags struct {
	description, quota, msg, attach string
	users                           int
	services                        serviceFlags
	sms, antivirus, antispam        bool
}

func (pf *planFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&pf.description, "description", "", "what the plan is for")
	f.StringVar(&pf.quota, "mailbox-quota", "0", "largest quota of one mailbox (e.g. 2G); 0 = unlimited")
	f.StringVar(&pf.msg, "max-message-size", "0", "largest message (e.g. 25M); 0 = the server limit")
	f.StringVar(&pf.attach, "max-attachment-size", "0", "largest attachment (e.g. 10M); 0 = unlimited")
	f.IntVar(&pf.users, "max-users", 0, "accounts per domain; 0 = unlimited")
	f.BoolVar(&pf.sms, "sms", false, "SMS notifications allowed")
	f.BoolVar(&pf.antivirus, "antivirus", true, "virus scanning offered")
	f.BoolVar(&pf.antispam, "antispam", true, "spam filtering offered")
	pf.services.register(c, "every domain on the plan")
}

// apply sets the flags the user gave (all of them for a new plan) on p.
func (pf *planFlags) apply(c *cobra.Command, p directory.Plan, all bool) (directory.Plan, error) {
	f := c.Flags()
	set := func(name string) bool { return all || f.Changed(name) }
	if set("description") {
		p.Description = pf.description
	}
	for _, s := range []struct {
		flag string
		v    string
		dst  *int64
	}{{"mailbox-quota", pf.quota, &p.MailboxQuotaBytes}, {"max-message-size", pf.msg, &p.MaxMessageBytes},
		{"max-attachment-size", pf.attach, &p.MaxAttachmentBytes}} {
		if !set(s.flag) {
			continue
		}
		n, err := parseSize(s.v)
		if err != nil {
			return p, fmt.Errorf("--%s: %w", s.flag, err)
		}
		*s.dst = n
	}
	if set("max-users") {
		if pf.users < 0 {
			return p, fmt.Errorf("--max-users must not be negative")
		}
		p.MaxUsers = pf.users
	}
	if set("sms") {
		p.SMS = pf.sms
	}
	if set("antivirus") {
		p.Antivirus = pf.antivirus
	}
	if set("antispam") {
		p.Antispam = pf.antispam
	}
	if pf.services.given() {
		next, err := pf.services.apply(p.DisabledServices)
		if err != nil {
			return p, err
		}
		p.DisabledServices = next
	}
	return p, nil
}

func planAddCmd(e *env) *cobra.Command {
	var pf planFlags
	c := &cobra.Command{
		Use:     "add NAME",
		Short:   "Add a service plan",
		Example: "  mailgrid plan add basic --mailbox-quota 2G --max-message-size 25M --max-users 50 --disable pop3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pf.apply(cmd, directory.Plan{Name: args[0]}, true)
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				p, err := cli(s).CreatePlan(cmd.Context(), p)
				if err != nil {
					return fmt.Errorf("plan %s: %w", args[0], err)
				}
				return e.printPlans([]planView{viewPlan(p, nil)})
			})
		},
	}
	pf.register(c)
	return c
}

func planSetCmd(e *env) *cobra.Command {
	var pf planFlags
	c := &cobra.Command{
		Use:   "set NAME",
		Short: "Change a plan; every domain on it is brought within the new limits",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				cur, _, err := cli(s).Plan(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("plan %s: %w", args[0], err)
				}
				p, err := pf.apply(cmd, cur, false)
				if err != nil {
					return err
				}
				p, changed, err := cli(s).UpdatePlan(cmd.Context(), p)
				if err != nil {
					return fmt.Errorf("plan %s: %w", args[0], err)
				}
				if len(changed) > 0 && !e.json {
					fmt.Fprintf(e.stderr, "brought within the plan: %s\n", strings.Join(changed, ", "))
				}
				return e.printPlans([]planView{viewPlan(p, nil)})
			})
		},
	}
	pf.register(c)
	return c
}

func planListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List service plans",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				ps, err := cli(s).Plans(cmd.Context())
				if err != nil {
					return err
				}
				vs := make([]planView, 0, len(ps))
				for _, p := range ps {
					_, ds, err := cli(s).Plan(cmd.Context(), p.Name)
					if err != nil {
						return err
					}
					vs = append(vs, viewPlan(p, ds))
				}
				return e.printPlans(vs)
			})
		},
	}
}

func planShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a plan and the domains on it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				p, ds, err := cli(s).Plan(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("plan %s: %w", args[0], err)
				}
				return e.printPlans([]planView{viewPlan(p, ds)})
			})
		},
	}
}

func planDelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "del NAME",
		Short: "Delete a plan no domain uses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				if err := cli(s).DeletePlan(cmd.Context(), args[0]); err != nil {
					return fmt.Errorf("plan %s: %w", args[0], err)
				}
				fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
				return nil
			})
		},
	}
}

func planAssignCmd(e *env) *cobra.Command {
	var none bool
	c := &cobra.Command{
		Use:   "assign DOMAIN [PLAN]",
		Short: "Put a domain on a plan (its limits are brought within it), or --none to take it off",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan := ""
			switch {
			case none && len(args) == 2:
				return fmt.Errorf("give a PLAN or --none, not both")
			case !none && len(args) == 1:
				return fmt.Errorf("give a PLAN, or --none to take the domain off its plan")
			case len(args) == 2:
				plan = args[1]
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				d, err := cli(s).AssignPlan(cmd.Context(), args[0], plan)
				if err != nil {
					return fmt.Errorf("domain %s: %w", args[0], err)
				}
				accts, err := s.Dir.Accounts(cmd.Context(), d.Name)
				if err != nil {
					return err
				}
				return e.printDomains([]domainView{viewDomain(d, len(accts))})
			})
		},
	}
	c.Flags().BoolVar(&none, "none", false, "take the domain off its plan")
	return c
}

func (e *env) printPlans(ps []planView) error {
	return e.print(ps, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "PLAN\tMAILBOX QUOTA\tMAX MESSAGE\tMAX ATTACHMENT\tMAX USERS\tDISABLED SERVICES\tSMS\tAV\tAS\tDOMAINS")
		for _, p := range ps {
			users := "unlimited"
			if p.MaxUsers > 0 {
				users = fmt.Sprint(p.MaxUsers)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%v\t%v\t%s\n", p.Name, formatSize(p.MailboxQuotaBytes, true),
				formatSize(p.MaxMessageBytes, true), formatSize(p.MaxAttachmentBytes, true), users,
				formatServices(p.DisabledServices), p.SMS, p.Antivirus, p.Antispam, dash(strings.Join(p.Domains, ",")))
		}
	})
}

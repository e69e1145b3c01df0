package postgres

import "strings"

// The flag rules themselves (normalising, STORE) are package store's.

// joinFlags gives a flag list as one string for an unnest() array parameter; SQL splits
// it again with string_to_array(f, ' '); the empty string is the empty list.
func joinFlags(flags []string) string { return strings.Join(flags, " ") }

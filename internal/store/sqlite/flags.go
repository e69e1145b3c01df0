package sqlite

import "strings"

// The flag rules themselves (normalising, STORE) are package store's.

// joinFlags and splitFlags convert a normalised list to and from its column form (flags
// are atoms, so a space never occurs inside one).
func joinFlags(flags []string) string { return strings.Join(flags, " ") }

func splitFlags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

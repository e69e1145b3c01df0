package imapserver

import "mailgrid/internal/store"

// CacheHits is how many SELECTs the server's mailbox cache answered.
func CacheHits(s *Server) uint64 {
	s.boxes.mu.Lock()
	defer s.boxes.mu.Unlock()
	return s.boxes.hits
}

// DropBoxCache empties the server's mailbox cache, so what follows reads the store.
func DropBoxCache(s *Server) {
	s.boxes.observe([]store.Change{{Kind: store.AccountResync}})
}

package imapserver

// CacheHits is how many SELECTs the server's mailbox cache answered.
func CacheHits(s *Server) uint64 {
	s.boxes.mu.Lock()
	defer s.boxes.mu.Unlock()
	return s.boxes.hits
}

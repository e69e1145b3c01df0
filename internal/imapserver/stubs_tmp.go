package imapserver

func cmdSort(s *session, c *command) error     { return bad("SORT not implemented") }
func cmdThread(s *session, c *command) error   { return bad("THREAD not implemented") }
func cmdCompress(s *session, c *command) error { return bad("COMPRESS not implemented") }

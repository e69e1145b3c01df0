package imapserver

import (
	"compress/flate"
	"net"
	"strings"

	"mailgrid/internal/obs"
)

// cmdCompress: COMPRESS=DEFLATE (RFC 4978). After the OK both directions are raw
// DEFLATE (RFC 1951); every response flush is a sync flush so the client sees it at once,
// and the client's stream is decoded by our inflater, which hands out each block as it
// ends, whatever flush the client uses (inflate.go).
func cmdCompress(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	alg, err := s.p.atom()
	if err != nil {
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if !strings.EqualFold(alg, "DEFLATE") {
		return bad("unknown compression mechanism")
	}
	if s.compress {
		return no("COMPRESSIONACTIVE", "compression already active") // RFC 4978 3
	}
	s.w.raw(c.tag + " OK DEFLATE active\r\n")
	if err := s.w.flush(); err != nil {
		return err
	}
	c.replied = true
	fw, err := flate.NewWriter(s.conn, flate.DefaultCompression)
	if err != nil {
		return err
	}
	cc := &compressConn{Conn: s.conn, fr: newInflater(&bufferedConn{s: s}), fw: fw, log: s}
	s.compress = true
	s.setConnKeepReader(cc)
	return nil
}

// bufferedConn reads what the old buffer still holds (compressed bytes the client sent
// right after the command) before reading the connection.
type bufferedConn struct{ s *session }

func (b *bufferedConn) Read(p []byte) (int, error) { return b.s.oldBR.Read(p) }

func (b *bufferedConn) ReadByte() (byte, error) { return b.s.oldBR.ReadByte() }

// compressConn is the connection after COMPRESS.
type compressConn struct {
	net.Conn
	fr interface {
		Read([]byte) (int, error)
		Close() error
	}
	fw  *flate.Writer
	log *session
}

func (c *compressConn) Read(p []byte) (int, error) { return c.fr.Read(p) }

func (c *compressConn) Write(p []byte) (int, error) {
	n, err := c.fw.Write(p)
	if err != nil {
		return n, err
	}
	return n, c.fw.Flush() // the session's bufio flushes once per response batch
}

func (c *compressConn) closeCompress() error {
	obs.Check(c.log.log, c.fr.Close(), "close inflater")
	return c.fw.Close()
}

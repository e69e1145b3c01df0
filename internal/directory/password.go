package directory

// Password hashing.
//
// New hashes are argon2id (RFC 9106) with the OWASP Password Storage Cheat Sheet's first
// recommended setting (m=19456 KiB, t=2, p=1), in the PHC string format
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" (salt and hash unpadded standard base64,
// as the PHC format and the reference argon2 tool write them). golang.org/x/crypto/argon2
// is the Go team's implementation; x/crypto/bcrypt verifies hashes imported from other
// systems ("$2a$", "$2b$", "$2y$"), which VerifyPassword flags for rehashing so they turn
// into argon2id at the account's next successful login.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// MaxPasswordLen bounds a password in bytes: hashing cost must not be chosen by a client.
const MaxPasswordLen = 1024

// argon2id parameters of new hashes (OWASP: m=19 MiB, t=2, p=1).
const (
	argonMemoryKiB = 19456
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on parameters read back from stored hashes, so a corrupt or hostile hash in the
// database cannot make a login cost minutes or gigabytes.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 64
	maxBcryptCost     = 20
)

// ErrBadHash is returned (wrapped in ErrInvalid) for a stored hash VerifyPassword cannot read.
var ErrBadHash = fmt.Errorf("%w: unrecognised password hash", ErrInvalid)

var b64 = base64.RawStdEncoding

// checkPassword enforces the password rules shared by hashing and verification.
func checkPassword(pw string) error {
	if pw == "" {
		return fmt.Errorf("%w: empty password", ErrInvalid)
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the argon2id PHC string of pw. It refuses (ErrInvalid) an empty
// password or one longer than MaxPasswordLen bytes.
func HashPassword(pw string) (string, error) {
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a stored hash in constant time. ok is false for a wrong
// password and for passwords HashPassword would refuse (empty, too long). needsRehash is
// true when ok and the hash is not argon2id with the current parameters (bcrypt imports,
// older argon2id settings): the caller should store HashPassword(pw). err is only for a
// hash that cannot be read (ErrBadHash).
func VerifyPassword(hash, pw string) (ok bool, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return verifyArgon2id(hash, pw)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return verifyBcrypt(hash, pw)
	}
	return false, false, ErrBadHash
}

// ValidHash reports whether hash is a password hash VerifyPassword can read; drivers use
// it before storing an imported hash.
func ValidHash(hash string) bool {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err == nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		return err == nil && cost <= maxBcryptCost
	}
	return false
}

type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func verifyArgon2id(hash, pw string) (bool, bool, error) {
	p, err := parseArgon2id(hash)
	if err != nil {
		return false, false, err
	}
	if checkPassword(pw) != nil {
		return false, false, nil
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	if subtle.ConstantTimeCompare(key, p.key) != 1 {
		return false, false, nil
	}
	current := p.memory == argonMemoryKiB && p.time == argonTime && p.threads == argonThreads &&
		len(p.key) == argonKeyLen && len(p.salt) >= argonSaltLen
	return true, !current, nil
}

// parseArgon2id reads "$argon2id$v=19$m=M,t=T,p=P$salt$key" (PHC string format).
func parseArgon2id(hash string) (argonParams, error) {
	var p argonParams
	f := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, ErrBadHash
	}
	var seen [3]bool
	for _, kv := range strings.Split(f[3], ",") {
		k, v, found := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !found || err != nil {
			return p, ErrBadHash
		}
		switch {
		case k == "m" && !seen[0]:
			p.memory, seen[0] = uint32(n), true
		case k == "t" && !seen[1]:
			p.time, seen[1] = uint32(n), true
		case k == "p" && !seen[2] && n <= 255:
			p.threads, seen[2] = uint8(n), true
		default:
			return p, ErrBadHash
		}
	}
	if !seen[0] || !seen[1] || !seen[2] || p.time < 1 || p.time > maxArgonTime || p.threads < 1 ||
		p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemoryKiB {
		return p, ErrBadHash
	}
	var err1, err2 error
	p.salt, err1 = b64.DecodeString(f[4])
	p.key, err2 = b64.DecodeString(f[5])
	if err := errors.Join(err1, err2); err != nil || len(p.salt) < 8 || len(p.key) < 16 || len(p.key) > 128 {
		return p, ErrBadHash
	}
	return p, nil
}

func verifyBcrypt(hash, pw string) (bool, bool, error) {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || cost > maxBcryptCost {
		return false, false, ErrBadHash
	}
	if checkPassword(pw) != nil {
		return false, false, nil
	}
	// bcrypt compares in constant time (subtle.ConstantTimeCompare inside).
	switch err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); {
	case err == nil:
		return true, true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, false, nil
	default:
		return false, false, fmt.Errorf("%w: %v", ErrBadHash, err)
	}
}

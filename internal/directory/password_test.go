package directory

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordFormat(t *testing.T) {
	h1, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h1) {
		t.Fatalf("hash %q is not an OWASP-parameter argon2id PHC string", h1)
	}
	h2, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, h := range []string{h1, h2} {
		ok, rehash, err := VerifyPassword(h, "correct horse battery staple")
		if !ok || rehash || err != nil {
			t.Fatalf("VerifyPassword(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
	}
	ok, _, err := VerifyPassword(h1, "correct horse battery stapler")
	if ok || err != nil {
		t.Fatalf("wrong password: ok=%v err=%v", ok, err)
	}
}

func TestPasswordLengthRules(t *testing.T) {
	for _, pw := range []string{"", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := HashPassword(pw); !errors.Is(err, ErrInvalid) {
			t.Errorf("HashPassword(len %d) err = %v, want ErrInvalid", len(pw), err)
		}
	}
	longest := strings.Repeat("é", MaxPasswordLen/2) // 1024 bytes, multi-byte runes
	h, err := HashPassword(longest)
	if err != nil {
		t.Fatalf("HashPassword(1024 bytes): %v", err)
	}
	if ok, _, err := VerifyPassword(h, longest); !ok || err != nil {
		t.Fatalf("VerifyPassword(1024 bytes) = %v, %v", ok, err)
	}
	// A stored hash never matches a password HashPassword would refuse.
	for _, pw := range []string{"", longest + "x"} {
		if ok, _, err := VerifyPassword(h, pw); ok || err != nil {
			t.Errorf("VerifyPassword(len %d) = %v, %v; want false, nil", len(pw), ok, err)
		}
	}
}

// Hashes written by the reference implementation (the argon2 command of the PHC winner's
// repository, Debian package argon2):
//
//	echo -n "correct horse battery staple" | argon2 mailgridsalt16by -id -t 2 -k 19456 -p 1 -l 32 -e
//	echo -n "correct horse battery staple" | argon2 othersalt12345 -id -t 3 -k 4096 -p 2 -l 32 -e
func TestVerifyReferenceArgon2id(t *testing.T) {
	const pw = "correct horse battery staple"
	cases := []struct {
		hash   string
		rehash bool
	}{
		{"$argon2id$v=19$m=19456,t=2,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU", false},
		{"$argon2id$v=19$m=4096,t=3,p=2$b3RoZXJzYWx0MTIzNDU$HTwh0tOrPtx4CGkRIKqZxLsKuTjDndXXXLtHYd8tDLs", true},
	}
	for _, c := range cases {
		ok, rehash, err := VerifyPassword(c.hash, pw)
		if !ok || rehash != c.rehash || err != nil {
			t.Errorf("VerifyPassword(%s) = %v, %v, %v; want true, %v, nil", c.hash, ok, rehash, err, c.rehash)
		}
		if ok, _, _ := VerifyPassword(c.hash, "Correct horse battery staple"); ok {
			t.Errorf("VerifyPassword(%s) accepted a wrong password", c.hash)
		}
		if !ValidHash(c.hash) {
			t.Errorf("ValidHash(%s) = false", c.hash)
		}
	}
}

func TestVerifyBcryptImports(t *testing.T) {
	// The example of PHP's password_verify documentation ($2y$, cost 10).
	const php = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
	if ok, rehash, err := VerifyPassword(php, "rasmuslerdorf"); !ok || !rehash || err != nil {
		t.Fatalf("VerifyPassword(php $2y$) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	if ok, _, err := VerifyPassword(php, "rasmuslerdorF"); ok || err != nil {
		t.Fatalf("VerifyPassword(php $2y$, wrong) = %v, %v", ok, err)
	}
	gen, err := bcrypt.GenerateFromPassword([]byte("s3cret pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := prefix + string(gen[4:])
		if ok, rehash, err := VerifyPassword(h, "s3cret pass"); !ok || !rehash || err != nil {
			t.Errorf("VerifyPassword(%s...) = %v, %v, %v; want true, true, nil", prefix, ok, rehash, err)
		}
		if ok, _, err := VerifyPassword(h, "s3cret Pass"); ok || err != nil {
			t.Errorf("VerifyPassword(%s..., wrong) = %v, %v", prefix, ok, err)
		}
	}
}

func TestVerifyRejectsBadHashes(t *testing.T) {
	bad := []string{
		"",
		"plaintext",
		"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
		"$1$saltsalt$hash",
		"$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=16$m=19456,t=2,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=19456,t=2$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=19456,t=2,p=1,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=99999999,t=2,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU", // 95 GiB
		"$argon2id$v=19$m=19456,t=1000,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=19456,t=0,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=19456,t=2,p=0$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=19456,t=2,p=1$!!!$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU",
		"$argon2id$v=19$m=19456,t=2,p=1$bWFpbGdyaWRzYWx0MTZieQ$",
		"$argon2id$v=19$m=19456,t=2,p=1$bWFpbGdyaWRzYWx0MTZieQ$BxgYQABDH7VhANbtHhPQz1RfryD9GtHHo/gUWZJ9QnU$extra",
		"$2a$31$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a", // cost 31: days per login
		"$2b$10$short",
	}
	for _, h := range bad {
		ok, _, err := VerifyPassword(h, "rasmuslerdorf")
		if ok || !errors.Is(err, ErrBadHash) || !errors.Is(err, ErrInvalid) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrBadHash", h, ok, err)
		}
		if ValidHash(h) {
			t.Errorf("ValidHash(%q) = true", h)
		}
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

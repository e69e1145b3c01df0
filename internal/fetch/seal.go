package fetch

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the sealing key's length (AES-256).
const KeySize = 32

// errKey is a key of the wrong size.
var errKey = errors.New("fetch: the sealing key is not 32 bytes")

// Seal encrypts a password with AES-256-GCM under key: a random 12-byte nonce followed by
// the ciphertext and tag.
func Seal(key []byte, password string) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("fetch: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(password), nil), nil
}

// Open decrypts what Seal made; an error says only that the password cannot be read
// (never the bytes).
func Open(key, sealed []byte) (string, error) {
	aead, err := gcm(key)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("fetch: the stored password cannot be read; enter it again")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("fetch: the stored password cannot be read; enter it again")
	}
	return string(pt), nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, errKey
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

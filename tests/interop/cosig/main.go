// Command ftlog-cosig-go checks a checkpoint cosigned by an ftlog witness
// with the Go reference implementation of signed notes,
// golang.org/x/mod/sumdb/note, extended here with a note.Verifier for
// C2SP tlog-cosignature v1 (key type 0x04), written from the
// specification text with the Go standard library only.
//
// Usage:
//
//	ftlog-cosig-go LOG-VKEY WITNESS-VKEY < NOTE
//
// LOG-VKEY is the log's Ed25519 note verifier key, WITNESS-VKEY the
// witness's cosignature verifier key (each a key string or a file holding
// one). NOTE is the signed checkpoint with the witness's cosignature line
// appended. Exit status 0 ("ok ..." on stdout) only if note.Open accepts
// the note and both keys verified; 1 if not; 2 for a usage error.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const cosigType = 0x04

// cosigVerifier verifies tlog-cosignature v1 signatures: the signature
// bytes (after the 4-byte key hash) are uint64_be(timestamp) followed by
// an Ed25519 signature over "cosignature/v1\ntime <timestamp>\n" and the
// note text.
type cosigVerifier struct {
	name string
	hash uint32
	pk   ed25519.PublicKey
	time uint64 // the timestamp of the last signature that verified
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > math.MaxInt64 {
		return false
	}
	var m bytes.Buffer
	m.WriteString("cosignature/v1\ntime ")
	m.WriteString(strconv.FormatUint(ts, 10))
	m.WriteString("\n")
	m.Write(msg)
	if !ed25519.Verify(v.pk, m.Bytes(), sig[8:]) {
		return false
	}
	v.time = ts
	return true
}

// keyHash is SHA-256(name || "\n" || type || public key)[:4], big endian.
func keyHash(name string, typ byte, pk []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', typ})
	h.Write(pk)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// newCosigVerifier parses "name+hex8+base64(0x04 || pk)".
func newCosigVerifier(vkey string) (*cosigVerifier, error) {
	name, rest, ok := strings.Cut(vkey, "+")
	if !ok || name == "" {
		return nil, errors.New("malformed verifier key")
	}
	hex8, b64, ok := strings.Cut(rest, "+")
	if !ok || len(hex8) != 8 {
		return nil, errors.New("malformed verifier key")
	}
	h, err := strconv.ParseUint(hex8, 16, 32)
	if err != nil {
		return nil, errors.New("malformed key hash")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return nil, errors.New("malformed key")
	}
	if raw[0] != cosigType {
		return nil, fmt.Errorf("key type 0x%02x is not tlog-cosignature v1", raw[0])
	}
	if keyHash(name, raw[0], raw[1:]) != uint32(h) {
		return nil, errors.New("key hash does not match the key")
	}
	return &cosigVerifier{name: name, hash: uint32(h), pk: ed25519.PublicKey(raw[1:])}, nil
}

// keyArg returns a key given as a string or as a file holding one.
func keyArg(s string) string {
	if strings.Count(s, "+") >= 2 {
		return s
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return s
	}
	return strings.TrimSpace(string(b))
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ftlog-cosig-go LOG-VKEY WITNESS-VKEY < NOTE")
		os.Exit(2)
	}
	logV, err := note.NewVerifier(keyArg(os.Args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "log key:", err)
		os.Exit(2)
	}
	witV, err := newCosigVerifier(keyArg(os.Args[2]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "witness key:", err)
		os.Exit(2)
	}
	msg, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdin:", err)
		os.Exit(2)
	}
	n, err := note.Open(msg, note.VerifierList(logV, witV))
	if err != nil {
		fmt.Println("FAIL note.Open:", err)
		os.Exit(1)
	}
	var logOK, witOK bool
	for _, s := range n.Sigs {
		if s.Name == logV.Name() && s.Hash == logV.KeyHash() {
			logOK = true
		}
		if s.Name == witV.Name() && s.Hash == witV.KeyHash() {
			witOK = true
		}
	}
	if !logOK || !witOK {
		fmt.Printf("FAIL verified: log %v, witness %v\n", logOK, witOK)
		os.Exit(1)
	}
	fmt.Printf("ok log %s witness %s time %d\n", logV.Name(), witV.Name(), witV.time)
}

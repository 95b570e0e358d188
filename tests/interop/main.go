// Command ftlog-interop-go cross-checks ftlog's C library (libftmerkle)
// against the Go reference implementation of the same formats:
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, plus the
// C2SP specifications that Go does not implement (tlog-checkpoint,
// tlog-tiles entry bundles, tlog-cosignature v1, tlog-proof), written here
// from the specification text with the Go standard library only.
//
// Usage:
//
//	ftlog-interop-go verify DIR    check artifacts that C wrote into DIR
//	ftlog-interop-go generate DIR  write Go-made artifacts into DIR for C
//	ftlog-interop-go sign DIR      sign DIR/text with DIR/skey into DIR/signed
//	ftlog-interop-go parse DIR     Go's verdict on candidate key names, key
//	                               strings, tile paths and signed notes
//	ftlog-interop-go synthetic DIR proofs and tree hashes of huge trees
//	                               over synthetic stored hashes
//	ftlog-interop-go dsse-verify ENVELOPE VKEY...
//	                               verify a DSSE envelope's Ed25519
//	                               signatures (PAE over payloadType and
//	                               payload) with the given note verifier
//	                               keys (strings or files holding one);
//	                               prints "ok N", N = verified signatures
//	ftlog-interop-go serve-verify URL VKEY [OLD...]
//	                               check a running ftlogd at URL
//	                               (http://127.0.0.1:PORT only) with
//	                               note.Open and tlog over HTTP tiles;
//	                               OLD are files holding older signed
//	                               checkpoints of the same log
//
// verify prints one line per check, "ok <what>" or "FAIL <what>: <why>",
// then "summary ok=<n> fail=<n>", and exits 1 if anything failed.
//
// The directory layout is the same in both directions:
//
//	manifest          "origin O", "entries N", "checkpoints S...",
//	                  "tiles S...", "tlogproofs I...", "cosigned S TS"
//	log.vkey          the log's verifier key (one line)
//	log.skey          the log's signer key (a throw-away test key)
//	second.vkey       a second Ed25519 key that signed multisig.note
//	witness.vkey      a tlog-cosignature v1 (type 0x04) witness key
//	witness.skey      its signer key (PRIVATE+KEY+name+id+base64(0x04||seed))
//	entries           one line per entry: standard base64 (empty line for
//	                  an empty entry)
//	checkpoint/S      the signed checkpoint of the tree of size S
//	inclusion         lines "I S h1 h2 ..." (base64 hashes, may be none)
//	consistency       lines "M N h1 h2 ..."
//	tiles/S/tile/...  every C2SP tile and entry bundle of the tree of size S
//	cosigned          the checkpoint of the cosigned size, signed by the log
//	                  and cosigned by the witness
//	multisig.note     a note signed by log, second and an unknown key
//	unknown.note      a note signed only by the unknown key
//	tlogproof/I       a C2SP tlog-proof of entry I against "cosigned"
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	tileHeight = 8
	tileWidth  = 1 << tileHeight
	cosigType  = 0x04
	maxEntry   = 65535
)

const usage = "usage: ftlog-interop-go verify|generate|sign|parse|synthetic DIR\n" +
	"       ftlog-interop-go serve-verify http://127.0.0.1:PORT VKEY [OLD-CHECKPOINT-FILE...]\n" +
	"       ftlog-interop-go dsse-verify ENVELOPE VKEY..."

func main() {
	if len(os.Args) >= 4 && os.Args[1] == "serve-verify" {
		os.Exit(serveVerify(os.Args[2], os.Args[3], os.Args[4:]))
	}
	if len(os.Args) >= 4 && os.Args[1] == "dsse-verify" {
		n, err := dsseVerify(os.Args[2], os.Args[3:])
		if err != nil {
			fmt.Fprintf(os.Stderr, "ftlog-interop-go dsse-verify: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("ok %d\n", n)
		os.Exit(0)
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	dir := os.Args[2]
	var err error
	switch os.Args[1] {
	case "verify":
		os.Exit(verify(dir))
	case "generate":
		err = generate(dir)
	case "sign":
		err = signCmd(dir)
	case "parse":
		err = parseCmd(dir)
	case "synthetic":
		err = syntheticCmd(dir)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftlog-interop-go %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// ---- Deterministic randomness for reproducible keys and entries. --------

// detRand is SHA-256(seed || counter) in counter mode: a reproducible byte
// stream, so that "generate" writes the same files on every run.
type detRand struct {
	seed string
	ctr  uint64
	buf  []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			r.ctr++
			sum := sha256.Sum256(append([]byte(r.seed), c[:]...))
			r.buf = sum[:]
		}
		p[i] = r.buf[0]
		r.buf = r.buf[1:]
	}
	return len(p), nil
}

// ---- Hash storage in Go's stored-hash order. ----------------------------

type hashStore []tlog.Hash

func (s hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("stored hash %d not available (have %d)", x, len(s))
		}
		out[i] = s[x]
	}
	return out, nil
}

func buildStore(entries [][]byte) (hashStore, error) {
	var s hashStore
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, s)
		if err != nil {
			return nil, err
		}
		s = append(s, hs...)
	}
	return s, nil
}

// ---- Tiles. ---------------------------------------------------------------

// tilesAt lists the C2SP tiles of a tree of size n: for each level the full
// tiles and, if the level's width is not a multiple of 256, the one partial
// tile of the current width; then the entry bundles (Go level -1), which
// follow level 0.
func tilesAt(n int64) []tlog.Tile {
	var tiles []tlog.Tile
	add := func(level int, count int64) {
		for i := int64(0); i < count/tileWidth; i++ {
			tiles = append(tiles, tlog.Tile{H: tileHeight, L: level, N: i, W: tileWidth})
		}
		if w := count % tileWidth; w != 0 {
			tiles = append(tiles, tlog.Tile{H: tileHeight, L: level, N: count / tileWidth, W: int(w)})
		}
	}
	for level := 0; n>>(uint(level)*tileHeight) > 0; level++ {
		add(level, n>>(uint(level)*tileHeight))
	}
	add(-1, n)
	return tiles
}

// c2spPath turns Go's "tile/8/L/..." or "tile/8/data/..." path into the
// C2SP tlog-tiles path "tile/L/..." or "tile/entries/...".
func c2spPath(t tlog.Tile) string {
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	if strings.HasPrefix(rest, "data/") {
		return "tile/entries/" + strings.TrimPrefix(rest, "data/")
	}
	return "tile/" + rest
}

// goPath is the inverse of c2spPath, for tlog.ParseTilePath.
func goPath(p string) string {
	rest := strings.TrimPrefix(p, "tile/")
	if strings.HasPrefix(rest, "entries/") {
		rest = "data/" + strings.TrimPrefix(rest, "entries/")
	}
	return fmt.Sprintf("tile/%d/%s", tileHeight, rest)
}

func bundle(entries [][]byte, t tlog.Tile) []byte {
	var b []byte
	start := t.N * tileWidth
	for i := int64(0); i < int64(t.W); i++ {
		e := entries[start+i]
		b = append(b, byte(len(e)>>8), byte(len(e)))
		b = append(b, e...)
	}
	return b
}

// fileTileReader serves tiles from DIR/tiles/S, for tlog.TileHashReader.
type fileTileReader struct{ dir string }

func (r fileTileReader) Height() int { return tileHeight }

func (r fileTileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (r fileTileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// ---- Checkpoints (C2SP tlog-checkpoint), parsed by hand. -----------------

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// parseCheckpoint parses the note text: origin, canonical decimal size,
// base64 root of 32 bytes, then optional non-empty extension lines.
func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, errors.New("checkpoint text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("checkpoint has %d lines, want at least 3", len(lines))
	}
	for _, l := range lines[3:] {
		if l == "" {
			return c, errors.New("empty extension line")
		}
	}
	if lines[0] == "" {
		return c, errors.New("empty origin")
	}
	c.origin = lines[0]
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return c, fmt.Errorf("non-canonical size %q", lines[1])
	}
	c.size = n
	h, err := tlog.ParseHash(lines[2])
	if err != nil || h.String() != lines[2] {
		return c, fmt.Errorf("bad root %q", lines[2])
	}
	c.root = h
	return c, nil
}

func formatCheckpoint(origin string, n int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, n, root)
}

// ---- Cosignatures (C2SP tlog-cosignature v1), by hand. -------------------

func keyID(name string, typ byte, pk []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{typ})
	h.Write(pk)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func cosigMessage(ts uint64, text string) []byte {
	return []byte(fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text))
}

type witnessKey struct {
	name string
	id   uint32
	pk   ed25519.PublicKey
}

// parseWitnessKey parses "name+hex8+base64(0x04 || pk)" per C2SP
// signed-note / tlog-cosignature (note.NewVerifier knows only type 0x01).
func parseWitnessKey(s string) (witnessKey, error) {
	var w witnessKey
	f := strings.SplitN(s, "+", 3) // base64 may hold '+'
	if len(f) != 3 {
		return w, errors.New("want name+id+key")
	}
	if f[0] == "" || len(f[1]) != 8 {
		return w, errors.New("bad name or key id")
	}
	id, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil {
		return w, err
	}
	raw, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		return w, err
	}
	if len(raw) != 33 || raw[0] != cosigType {
		return w, fmt.Errorf("want type 0x04 and 32 key bytes, got %d bytes", len(raw))
	}
	w.name, w.id, w.pk = f[0], uint32(id), ed25519.PublicKey(raw[1:])
	if keyID(w.name, cosigType, w.pk) != w.id {
		return w, errors.New("key id does not match SHA-256(name || \\n || 0x04 || pk)")
	}
	return w, nil
}

// parseWitnessSigner parses "PRIVATE+KEY+name+hex8+base64(0x04 || seed)".
func parseWitnessSigner(s string) (string, ed25519.PrivateKey, error) {
	f := strings.SplitN(s, "+", 5) // base64 may hold '+'
	if len(f) != 5 || f[0] != "PRIVATE" || f[1] != "KEY" || f[2] == "" || len(f[3]) != 8 {
		return "", nil, errors.New("want PRIVATE+KEY+name+id+key")
	}
	id, err := strconv.ParseUint(f[3], 16, 32)
	if err != nil {
		return "", nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil {
		return "", nil, err
	}
	if len(raw) != 1+ed25519.SeedSize || raw[0] != cosigType {
		return "", nil, fmt.Errorf("want type 0x04 and a 32-byte seed, got %d bytes", len(raw))
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	if keyID(f[2], cosigType, priv.Public().(ed25519.PublicKey)) != uint32(id) {
		return "", nil, errors.New("key id does not match the key")
	}
	return f[2], priv, nil
}

func formatWitnessSigner(name string, priv ed25519.PrivateKey) string {
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, keyID(name, cosigType, priv.Public().(ed25519.PublicKey)),
		base64.StdEncoding.EncodeToString(append([]byte{cosigType}, priv.Seed()...)))
}

func formatWitnessKey(name string, pk ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyID(name, cosigType, pk),
		base64.StdEncoding.EncodeToString(append([]byte{cosigType}, pk...)))
}

// cosigVerifier plugs a cosignature key into note.Open: the signature
// bytes after the key id are uint64_be(timestamp) || Ed25519 signature.
type cosigVerifier struct {
	w  witnessKey
	ts uint64
}

func (v *cosigVerifier) Name() string    { return v.w.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.w.id }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	v.ts = binary.BigEndian.Uint64(sig[:8])
	if v.ts > 1<<63-1 {
		return false // tlog-cosignature: MUST NOT exceed 2^63 - 1
	}
	return ed25519.Verify(v.w.pk, cosigMessage(v.ts, string(msg)), sig[8:])
}

// checkCosignature finds the witness's line in a signed note and checks
// it from the bytes up: 4-byte key id, 8-byte big-endian timestamp, 64-byte
// Ed25519 signature over "cosignature/v1\ntime <ts>\n" || note text.
func checkCosignature(msg []byte, w witnessKey) (uint64, error) {
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return 0, errors.New("no signature block")
	}
	text := string(msg[:split+1])
	found := false
	var ts uint64
	for _, line := range strings.Split(strings.TrimSuffix(string(msg[split+2:]), "\n"), "\n") {
		rest, ok := cutPrefix(line, "— ")
		if !ok {
			return 0, fmt.Errorf("bad signature line %q", line)
		}
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 || rest[:sp] != w.name {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(rest[sp+1:])
		if err != nil || len(raw) < 4 || binary.BigEndian.Uint32(raw) != w.id {
			continue
		}
		if len(raw) != 4+8+ed25519.SignatureSize {
			return 0, fmt.Errorf("cosignature is %d bytes, want 76", len(raw))
		}
		ts = binary.BigEndian.Uint64(raw[4:12])
		if ts > 1<<63-1 {
			return 0, errors.New("timestamp above 2^63-1")
		}
		if !ed25519.Verify(w.pk, cosigMessage(ts, text), raw[12:]) {
			return 0, errors.New("Ed25519 cosignature does not verify")
		}
		found = true
	}
	if !found {
		return 0, errors.New("no cosignature from the witness key")
	}
	return ts, nil
}

func cosignLine(name string, priv ed25519.PrivateKey, ts uint64, text string) string {
	pk := priv.Public().(ed25519.PublicKey)
	raw := make([]byte, 12, 12+ed25519.SignatureSize)
	binary.BigEndian.PutUint32(raw, keyID(name, cosigType, pk))
	binary.BigEndian.PutUint64(raw[4:], ts)
	raw = append(raw, ed25519.Sign(priv, cosigMessage(ts, text))...)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

func cutPrefix(s, p string) (string, bool) {
	if !strings.HasPrefix(s, p) {
		return s, false
	}
	return s[len(p):], true
}

// ---- tlog-proof (c2sp.org/tlog-proof@v1), by hand. -----------------------

type tlogProof struct {
	extra []byte
	index int64
	path  []tlog.Hash
	note  []byte
}

func parseTlogProof(b []byte) (tlogProof, error) {
	var p tlogProof
	s := string(b)
	line := func() (string, error) {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return "", errors.New("unterminated line")
		}
		l := s[:i]
		s = s[i+1:]
		return l, nil
	}
	l, err := line()
	if err != nil || l != "c2sp.org/tlog-proof@v1" {
		return p, fmt.Errorf("bad header %q", l)
	}
	if l, err = line(); err != nil {
		return p, err
	}
	if rest, ok := cutPrefix(l, "extra "); ok {
		p.extra, err = base64.StdEncoding.DecodeString(rest)
		if err != nil || base64.StdEncoding.EncodeToString(p.extra) != rest {
			return p, errors.New("bad extra")
		}
		if l, err = line(); err != nil {
			return p, err
		}
	}
	rest, ok := cutPrefix(l, "index ")
	if !ok {
		return p, fmt.Errorf("want index line, got %q", l)
	}
	p.index, err = strconv.ParseInt(rest, 10, 64)
	if err != nil || p.index < 0 || strconv.FormatInt(p.index, 10) != rest {
		return p, fmt.Errorf("bad index %q", rest)
	}
	for {
		if l, err = line(); err != nil {
			return p, err
		}
		if l == "" {
			break
		}
		h, err := tlog.ParseHash(l)
		if err != nil || h.String() != l {
			return p, fmt.Errorf("bad hash line %q", l)
		}
		p.path = append(p.path, h)
	}
	if s == "" {
		return p, errors.New("no checkpoint")
	}
	p.note = []byte(s)
	return p, nil
}

func formatTlogProof(extra []byte, index int64, path []tlog.Hash, signed []byte) []byte {
	var b bytes.Buffer
	b.WriteString("c2sp.org/tlog-proof@v1\n")
	if len(extra) > 0 {
		// An empty extra line would not be canonical: leave it out.
		fmt.Fprintf(&b, "extra %s\n", base64.StdEncoding.EncodeToString(extra))
	}
	fmt.Fprintf(&b, "index %d\n", index)
	for _, h := range path {
		fmt.Fprintf(&b, "%s\n", h)
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes()
}

// ---- Shared file formats. -------------------------------------------------

type manifest struct {
	origin      string
	entries     int64
	checkpoints []int64
	tiles       []int64
	tlogproofs  []int64
	cosignedAt  int64
	cosignedTS  uint64
}

func parseInts(fields []string) ([]int64, error) {
	var out []int64
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func readManifest(dir string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest"))
	if err != nil {
		return m, err
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 1 {
			return m, fmt.Errorf("manifest: empty line")
		}
		seen[f[0]] = true
		var ints []int64
		if f[0] != "origin" {
			if ints, err = parseInts(f[1:]); err != nil {
				return m, fmt.Errorf("manifest %s: %v", f[0], err)
			}
		}
		switch f[0] {
		case "origin":
			if len(f) != 2 {
				return m, errors.New("manifest: origin")
			}
			m.origin = f[1]
		case "entries":
			if len(ints) != 1 {
				return m, errors.New("manifest: entries")
			}
			m.entries = ints[0]
		case "checkpoints":
			m.checkpoints = ints
		case "tiles":
			m.tiles = ints
		case "tlogproofs":
			m.tlogproofs = ints
		case "cosigned":
			if len(ints) != 2 {
				return m, errors.New("manifest: cosigned")
			}
			m.cosignedAt, m.cosignedTS = ints[0], uint64(ints[1])
		default:
			return m, fmt.Errorf("manifest: unknown key %q", f[0])
		}
	}
	for _, k := range []string{"origin", "entries", "checkpoints", "tiles", "tlogproofs", "cosigned"} {
		if !seen[k] {
			return m, fmt.Errorf("manifest: missing %q", k)
		}
	}
	return m, nil
}

func writeManifest(dir string, m manifest) error {
	join := func(v []int64) string {
		var s []string
		for _, x := range v {
			s = append(s, strconv.FormatInt(x, 10))
		}
		return strings.Join(s, " ")
	}
	text := fmt.Sprintf("origin %s\nentries %d\ncheckpoints %s\ntiles %s\ntlogproofs %s\ncosigned %d %d\n",
		m.origin, m.entries, join(m.checkpoints), join(m.tiles), join(m.tlogproofs), m.cosignedAt, m.cosignedTS)
	return os.WriteFile(filepath.Join(dir, "manifest"), []byte(text), 0o644)
}

func readEntries(dir string) ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "entries"))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errors.New("entries: does not end in a newline")
	}
	var out [][]byte
	for i, l := range strings.Split(string(b[:len(b)-1]), "\n") {
		e, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			return nil, fmt.Errorf("entries line %d: %v", i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

type proofLine struct {
	a, b   int64
	hashes []tlog.Hash
}

func readProofs(path string) ([]proofLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []proofLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: short line", path, ln)
		}
		ab, err := parseInts(fields[:2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, ln, err)
		}
		p := proofLine{a: ab[0], b: ab[1]}
		for _, s := range fields[2:] {
			h, err := tlog.ParseHash(s)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, ln, err)
			}
			p.hashes = append(p.hashes, h)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

func formatProofLine(a, b int64, hs []tlog.Hash) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d %d", a, b)
	for _, h := range hs {
		sb.WriteString(" ")
		sb.WriteString(h.String())
	}
	sb.WriteString("\n")
	return sb.String()
}

func readLine(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		return "", fmt.Errorf("%s: want exactly one line", name)
	}
	return strings.TrimSuffix(s, "\n"), nil
}

func equalHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---- verify ---------------------------------------------------------------

type reporter struct {
	ok, fail int
	out      *bufio.Writer
}

// check runs f and prints "ok what" or "FAIL what: why"; a panic in the
// Go reference (which it uses for "bad math") is a failure, not a crash.
func (r *reporter) check(what string, f func() error) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.fail++
			fmt.Fprintf(r.out, "FAIL %s: panic: %v\n", what, p)
			ok = false
		}
	}()
	if err := f(); err != nil {
		r.fail++
		fmt.Fprintf(r.out, "FAIL %s: %v\n", what, err)
		return false
	}
	r.ok++
	fmt.Fprintf(r.out, "ok %s\n", what)
	return true
}

func verify(dir string) int {
	r := &reporter{out: bufio.NewWriter(os.Stdout)}
	defer r.out.Flush()
	finish := func() int {
		fmt.Fprintf(r.out, "summary ok=%d fail=%d\n", r.ok, r.fail)
		if r.fail != 0 {
			return 1
		}
		return 0
	}

	var m manifest
	var verifier note.Verifier
	var signer note.Signer
	var entries [][]byte
	var store hashStore
	if !r.check("manifest", func() (err error) { m, err = readManifest(dir); return }) {
		return finish()
	}
	if !r.check("vkey", func() error {
		s, err := readLine(dir, "log.vkey")
		if err != nil {
			return err
		}
		if verifier, err = note.NewVerifier(s); err != nil {
			return err
		}
		if verifier.Name() != m.origin {
			return fmt.Errorf("key name %q is not the origin %q", verifier.Name(), m.origin)
		}
		return nil
	}) {
		return finish()
	}
	r.check("skey", func() error {
		s, err := readLine(dir, "log.skey")
		if err != nil {
			return err
		}
		if signer, err = note.NewSigner(s); err != nil {
			return err
		}
		if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
			return fmt.Errorf("signer %s+%08x does not match verifier %s+%08x",
				signer.Name(), signer.KeyHash(), verifier.Name(), verifier.KeyHash())
		}
		return nil
	})
	if !r.check(fmt.Sprintf("entries %d", m.entries), func() (err error) {
		if entries, err = readEntries(dir); err != nil {
			return err
		}
		if int64(len(entries)) != m.entries {
			return fmt.Errorf("%d entries, manifest says %d", len(entries), m.entries)
		}
		store, err = buildStore(entries)
		return err
	}) {
		return finish()
	}
	verifiers := note.VerifierList(verifier)

	// Checkpoints: log signature, then the root against Go's own tree hash
	// over the entries, then Go re-signing C's text with C's signer key
	// must reproduce C's note byte for byte (Ed25519 is deterministic).
	roots := map[int64]tlog.Hash{}
	for _, size := range m.checkpoints {
		var text string
		var msg []byte
		if !r.check(fmt.Sprintf("checkpoint %d signature", size), func() error {
			var err error
			msg, err = os.ReadFile(filepath.Join(dir, "checkpoint", strconv.FormatInt(size, 10)))
			if err != nil {
				return err
			}
			n, err := note.Open(msg, verifiers)
			if err != nil {
				return err
			}
			if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
				return fmt.Errorf("%d verified, %d unverified signatures", len(n.Sigs), len(n.UnverifiedSigs))
			}
			text = n.Text
			return nil
		}) {
			continue
		}
		r.check(fmt.Sprintf("checkpoint %d root", size), func() error {
			c, err := parseCheckpoint(text)
			if err != nil {
				return err
			}
			if c.origin != m.origin || c.size != size {
				return fmt.Errorf("checkpoint is %q/%d, want %q/%d", c.origin, c.size, m.origin, size)
			}
			if len(strings.Split(text, "\n")) != 4 {
				return errors.New("unexpected extension lines")
			}
			want, err := tlog.TreeHash(size, store)
			if err != nil {
				return err
			}
			if c.root != want {
				return fmt.Errorf("root %v, Go computes %v", c.root, want)
			}
			roots[size] = c.root
			return nil
		})
		if signer != nil {
			r.check(fmt.Sprintf("checkpoint %d resign", size), func() error {
				again, err := note.Sign(&note.Note{Text: text}, signer)
				if err != nil {
					return err
				}
				if !bytes.Equal(again, msg) {
					return fmt.Errorf("Go signs it as\n%s\nC wrote\n%s", again, msg)
				}
				return nil
			})
		}
	}
	rootOf := func(size int64) (tlog.Hash, error) {
		h, ok := roots[size]
		if !ok {
			return h, fmt.Errorf("no verified checkpoint of size %d", size)
		}
		return h, nil
	}

	// Inclusion proofs: check with tlog.CheckRecord against the checkpoint
	// root, and demand exactly the proof Go generates.
	incl, err := readProofs(filepath.Join(dir, "inclusion"))
	r.check("inclusion file", func() error { return err })
	for _, p := range incl {
		p := p
		r.check(fmt.Sprintf("inclusion %d %d", p.a, p.b), func() error {
			if p.a < 0 || p.a >= int64(len(entries)) {
				return errors.New("index out of range of the entries")
			}
			root, err := rootOf(p.b)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(p.hashes, p.b, root, p.a, tlog.RecordHash(entries[p.a])); err != nil {
				return err
			}
			goProof, err := tlog.ProveRecord(p.b, p.a, store)
			if err != nil {
				return err
			}
			if !equalHashes(goProof, p.hashes) {
				return fmt.Errorf("proof differs from Go's %v", goProof)
			}
			return nil
		})
	}
	cons, err := readProofs(filepath.Join(dir, "consistency"))
	r.check("consistency file", func() error { return err })
	for _, p := range cons {
		p := p
		r.check(fmt.Sprintf("consistency %d %d", p.a, p.b), func() error {
			r1, err := rootOf(p.a)
			if err != nil {
				return err
			}
			r2, err := rootOf(p.b)
			if err != nil {
				return err
			}
			if err := tlog.CheckTree(p.hashes, p.b, r2, p.a, r1); err != nil {
				return err
			}
			goProof, err := tlog.ProveTree(p.b, p.a, store)
			if err != nil {
				return err
			}
			if !equalHashes(goProof, p.hashes) {
				return fmt.Errorf("proof differs from Go's %v", goProof)
			}
			return nil
		})
	}

	// Tiles: the exact set, every byte, and proofs read through them.
	for _, size := range m.tiles {
		verifyTiles(r, dir, size, entries, store, roots)
	}

	verifyNotes(r, dir, m, verifier, verifiers)

	for _, idx := range m.tlogproofs {
		idx := idx
		r.check(fmt.Sprintf("tlogproof %d", idx), func() error {
			b, err := os.ReadFile(filepath.Join(dir, "tlogproof", strconv.FormatInt(idx, 10)))
			if err != nil {
				return err
			}
			p, err := parseTlogProof(b)
			if err != nil {
				return err
			}
			if p.index != idx || idx >= int64(len(entries)) || !bytes.Equal(p.extra, entries[idx]) {
				return errors.New("index or extra does not match the entry")
			}
			n, err := note.Open(p.note, verifiers)
			if err != nil {
				return err
			}
			c, err := parseCheckpoint(n.Text)
			if err != nil {
				return err
			}
			if c.origin != m.origin {
				return errors.New("wrong origin")
			}
			return tlog.CheckRecord(p.path, c.size, c.root, p.index, tlog.RecordHash(p.extra))
		})
	}
	return finish()
}

func verifyTiles(r *reporter, dir string, size int64, entries [][]byte, store hashStore, roots map[int64]tlog.Hash) {
	tdir := filepath.Join(dir, "tiles", strconv.FormatInt(size, 10))
	found := map[string]bool{}
	r.check(fmt.Sprintf("tileset %d", size), func() error {
		err := filepath.WalkDir(tdir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				rel, err := filepath.Rel(tdir, p)
				if err != nil {
					return err
				}
				found[filepath.ToSlash(rel)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for _, t := range tilesAt(size) {
			want[c2spPath(t)] = true
		}
		var missing, extra []string
		for p := range want {
			if !found[p] {
				missing = append(missing, p)
			}
		}
		for p := range found {
			if !want[p] {
				extra = append(extra, p)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		if len(missing) != 0 || len(extra) != 0 {
			return fmt.Errorf("missing %v, unexpected %v", missing, extra)
		}
		return nil
	})
	for _, t := range tilesAt(size) {
		t := t
		p := c2spPath(t)
		what := fmt.Sprintf("tile %d %s", size, p)
		if t.L < 0 {
			what = fmt.Sprintf("bundle %d %s", size, p)
		}
		if !found[p] {
			continue // reported by tileset
		}
		r.check(what, func() error {
			pt, err := tlog.ParseTilePath(goPath(p))
			if err != nil {
				return err
			}
			if pt != t {
				return fmt.Errorf("Go parses the path as %+v", pt)
			}
			got, err := os.ReadFile(filepath.Join(tdir, filepath.FromSlash(p)))
			if err != nil {
				return err
			}
			var want []byte
			if t.L < 0 {
				want = bundle(entries, t)
			} else if want, err = tlog.ReadTileData(t, store); err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("%d bytes differ from Go's %d bytes", len(got), len(want))
			}
			return nil
		})
	}
	// Read the tree through the tiles: tlog.TileHashReader authenticates
	// every tile it uses against the checkpoint root.
	r.check(fmt.Sprintf("tilereader %d", size), func() error {
		root, ok := roots[size]
		if !ok {
			return fmt.Errorf("no verified checkpoint of size %d", size)
		}
		thr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, fileTileReader{tdir})
		th, err := tlog.TreeHash(size, thr)
		if err != nil {
			return err
		}
		if th != root {
			return fmt.Errorf("tree hash through tiles %v, checkpoint %v", th, root)
		}
		for _, i := range []int64{0, size / 2, size - 1} {
			p, err := tlog.ProveRecord(size, i, thr)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(p, size, root, i, tlog.RecordHash(entries[i])); err != nil {
				return fmt.Errorf("record %d through tiles: %v", i, err)
			}
		}
		for _, old := range []int64{1, (size + 1) / 2, size} {
			p, err := tlog.ProveTree(size, old, thr)
			if err != nil {
				return err
			}
			oh, err := tlog.TreeHash(old, store)
			if err != nil {
				return err
			}
			if err := tlog.CheckTree(p, size, root, old, oh); err != nil {
				return fmt.Errorf("tree %d through tiles: %v", old, err)
			}
		}
		return nil
	})
}

func verifyNotes(r *reporter, dir string, m manifest, verifier note.Verifier, verifiers note.Verifiers) {
	var w witnessKey
	haveW := r.check("witness vkey", func() error {
		s, err := readLine(dir, "witness.vkey")
		if err != nil {
			return err
		}
		w, err = parseWitnessKey(s)
		return err
	})
	msg, err := os.ReadFile(filepath.Join(dir, "cosigned"))
	r.check("cosigned log signature", func() error {
		if err != nil {
			return err
		}
		n, err := note.Open(msg, verifiers)
		if err != nil {
			return err
		}
		if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
			return fmt.Errorf("%d verified and %d unverified signatures, want 1 and 1",
				len(n.Sigs), len(n.UnverifiedSigs))
		}
		plain, err := os.ReadFile(filepath.Join(dir, "checkpoint", strconv.FormatInt(m.cosignedAt, 10)))
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(plain, []byte(n.Text)) {
			return errors.New("cosigned text is not the checkpoint's text")
		}
		return nil
	})
	if haveW {
		r.check("cosignature", func() error {
			if err != nil {
				return err
			}
			ts, err := checkCosignature(msg, w)
			if err != nil {
				return err
			}
			if ts != m.cosignedTS {
				return fmt.Errorf("timestamp %d, want %d", ts, m.cosignedTS)
			}
			return nil
		})
		r.check("cosignature reproduce", func() error {
			if err != nil {
				return err
			}
			s, err := readLine(dir, "witness.skey")
			if err != nil {
				return err
			}
			name, priv, err := parseWitnessSigner(s)
			if err != nil {
				return err
			}
			if name != w.name || !priv.Public().(ed25519.PublicKey).Equal(w.pk) {
				return errors.New("witness.skey does not match witness.vkey")
			}
			plain, err := os.ReadFile(filepath.Join(dir, "checkpoint", strconv.FormatInt(m.cosignedAt, 10)))
			if err != nil {
				return err
			}
			text := plain[:bytes.LastIndex(plain, []byte("\n\n"))+1]
			want := append(plain, cosignLine(name, priv, m.cosignedTS, string(text))...)
			if !bytes.Equal(want, msg) {
				return fmt.Errorf("Go cosigns it as\n%s\nC wrote\n%s", want, msg)
			}
			return nil
		})
		r.check("cosigned open", func() error {
			if err != nil {
				return err
			}
			cv := &cosigVerifier{w: w}
			n, err := note.Open(msg, note.VerifierList(verifier, cv))
			if err != nil {
				return err
			}
			if len(n.Sigs) != 2 || cv.ts != m.cosignedTS {
				return fmt.Errorf("%d verified signatures, timestamp %d", len(n.Sigs), cv.ts)
			}
			// The same note with the cosignature's timestamp changed must fail.
			bad := bytes.Replace(msg, []byte(cosigB64(msg, w)), []byte(bumpTS(cosigB64(msg, w))), 1)
			if _, err := note.Open(bad, note.VerifierList(verifier, &cosigVerifier{w: w})); err == nil {
				return errors.New("a cosignature with a changed timestamp verifies")
			}
			return nil
		})
	}
	r.check("multisig", func() error {
		s, err := readLine(dir, "second.vkey")
		if err != nil {
			return err
		}
		second, err := note.NewVerifier(s)
		if err != nil {
			return err
		}
		msg, err := os.ReadFile(filepath.Join(dir, "multisig.note"))
		if err != nil {
			return err
		}
		n, err := note.Open(msg, note.VerifierList(verifier, second))
		if err != nil {
			return err
		}
		if len(n.Sigs) != 2 || len(n.UnverifiedSigs) != 1 {
			return fmt.Errorf("%d verified and %d unverified signatures, want 2 and 1",
				len(n.Sigs), len(n.UnverifiedSigs))
		}
		n, err = note.Open(msg, note.VerifierList(second))
		if err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != second.Name() {
			return fmt.Errorf("open with the second key alone: %v", err)
		}
		return nil
	})
	r.check("unknown rejected", func() error {
		msg, err := os.ReadFile(filepath.Join(dir, "unknown.note"))
		if err != nil {
			return err
		}
		_, err = note.Open(msg, verifiers)
		var unv *note.UnverifiedNoteError
		if !errors.As(err, &unv) {
			return fmt.Errorf("note.Open = %v, want UnverifiedNoteError", err)
		}
		if len(unv.Note.UnverifiedSigs) != 1 {
			return fmt.Errorf("%d unverified signatures, want 1", len(unv.Note.UnverifiedSigs))
		}
		return nil
	})
}

// cosigB64 returns the base64 of the witness's signature line in msg.
func cosigB64(msg []byte, w witnessKey) string {
	prefix := "— " + w.name + " "
	for _, l := range strings.Split(string(msg), "\n") {
		if rest, ok := cutPrefix(l, prefix); ok {
			return rest
		}
	}
	return "\x00not found"
}

func bumpTS(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 12 {
		return b64
	}
	raw[11] ^= 1
	return base64.StdEncoding.EncodeToString(raw)
}

// ---- generate -------------------------------------------------------------

// Sizes with edge cases: tiny trees, powers of two and their neighbours,
// tile boundaries (256 = one full level-0 tile, 65536 = one full level-1
// tile), and 70000 (level-2 partial tile).
var (
	genCheckpoints = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 255, 256, 257, 511, 512, 513,
		1000, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 69999, 70000}
	genTiles = []int64{1, 2, 7, 256, 257, 1000, 70000}
)

const (
	genOrigin     = "go.example.org/interop-log"
	genSecond     = "go.example.org/second"
	genUnknown    = "go.example.org/unknown"
	genWitness    = "go.example.org/witness"
	genEntries    = 70000
	genCosignedTS = 1712345678
)

func genEntry(i int) []byte {
	switch i {
	case 0:
		return []byte{}
	case 3:
		// The largest entry a bundle can hold.
		e := make([]byte, maxEntry)
		(&detRand{seed: "big entry"}).Read(e)
		return e
	}
	r := &detRand{seed: fmt.Sprintf("go entry %d", i)}
	var n [2]byte
	r.Read(n[:])
	e := []byte(fmt.Sprintf("go interop entry %d\n", i))
	// Mostly short entries, every 97th one long enough to need both
	// bytes of the bundle's length prefix.
	size := int(binary.BigEndian.Uint16(n[:])) % 64
	if i%97 == 0 {
		size = int(binary.BigEndian.Uint16(n[:])) % 1000
	}
	extra := make([]byte, size)
	r.Read(extra)
	return append(e, extra...)
}

func genInclusionPairs(sizes []int64) [][2]int64 {
	var out [][2]int64
	for _, s := range sizes {
		seen := map[int64]bool{}
		cand := []int64{0, 1, 2, s / 2, s - 3, s - 2, s - 1}
		for p := int64(1); p < s; p <<= 1 {
			cand = append(cand, p-1, p)
		}
		for i := int64(0); i < 5; i++ {
			cand = append(cand, (i*7919+13)%s)
		}
		for _, i := range cand {
			if i >= 0 && i < s && !seen[i] {
				seen[i] = true
				out = append(out, [2]int64{i, s})
			}
		}
	}
	return out
}

func genConsistencyPairs(sizes []int64) [][2]int64 {
	var out [][2]int64
	for i, m := range sizes {
		for _, n := range sizes[i:] {
			out = append(out, [2]int64{m, n})
		}
	}
	return out
}

func writeFile(dir, name string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func generate(dir string) error {
	skey, vkey, err := note.GenerateKey(&detRand{seed: "log key"}, genOrigin)
	if err != nil {
		return err
	}
	secondS, secondV, err := note.GenerateKey(&detRand{seed: "second key"}, genSecond)
	if err != nil {
		return err
	}
	unknownS, _, err := note.GenerateKey(&detRand{seed: "unknown key"}, genUnknown)
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	second, err := note.NewSigner(secondS)
	if err != nil {
		return err
	}
	unknown, err := note.NewSigner(unknownS)
	if err != nil {
		return err
	}
	seed := make([]byte, ed25519.SeedSize)
	(&detRand{seed: "witness key"}).Read(seed)
	wpriv := ed25519.NewKeyFromSeed(seed)
	wvkey := formatWitnessKey(genWitness, wpriv.Public().(ed25519.PublicKey))

	entries := make([][]byte, genEntries)
	var eb strings.Builder
	for i := range entries {
		entries[i] = genEntry(i)
		eb.WriteString(base64.StdEncoding.EncodeToString(entries[i]))
		eb.WriteString("\n")
	}
	store, err := buildStore(entries)
	if err != nil {
		return err
	}

	files := map[string][]byte{
		"log.vkey":     []byte(vkey + "\n"),
		"log.skey":     []byte(skey + "\n"),
		"second.vkey":  []byte(secondV + "\n"),
		"witness.vkey": []byte(wvkey + "\n"),
		"witness.skey": []byte(formatWitnessSigner(genWitness, wpriv) + "\n"),
		"entries":      []byte(eb.String()),
	}
	signed := map[int64][]byte{}
	for _, s := range genCheckpoints {
		root, err := tlog.TreeHash(s, store)
		if err != nil {
			return err
		}
		msg, err := note.Sign(&note.Note{Text: formatCheckpoint(genOrigin, s, root)}, signer)
		if err != nil {
			return err
		}
		signed[s] = msg
		files["checkpoint/"+strconv.FormatInt(s, 10)] = msg
	}

	var ib, cb strings.Builder
	for _, p := range genInclusionPairs(genCheckpoints) {
		proof, err := tlog.ProveRecord(p[1], p[0], store)
		if err != nil {
			return err
		}
		ib.WriteString(formatProofLine(p[0], p[1], proof))
	}
	for _, p := range genConsistencyPairs(genCheckpoints) {
		proof, err := tlog.ProveTree(p[1], p[0], store)
		if err != nil {
			return err
		}
		cb.WriteString(formatProofLine(p[0], p[1], proof))
	}
	files["inclusion"] = []byte(ib.String())
	files["consistency"] = []byte(cb.String())

	for _, s := range genTiles {
		for _, t := range tilesAt(s) {
			var data []byte
			if t.L < 0 {
				data = bundle(entries, t)
			} else if data, err = tlog.ReadTileData(t, store); err != nil {
				return err
			}
			files[fmt.Sprintf("tiles/%d/%s", s, c2spPath(t))] = data
		}
	}

	// The cosigned checkpoint: the log's signature, then the witness's.
	cosignedAt := genCheckpoints[len(genCheckpoints)-1]
	text := formatCheckpoint(genOrigin, cosignedAt, mustTreeHash(cosignedAt, store))
	cosigned := append(append([]byte{}, signed[cosignedAt]...), cosignLine(genWitness, wpriv, genCosignedTS, text)...)
	files["cosigned"] = cosigned

	multiText := "ftlog interop: a note with several signatures\nsigned by Go\n"
	multi, err := note.Sign(&note.Note{Text: multiText}, signer, unknown, second)
	if err != nil {
		return err
	}
	files["multisig.note"] = multi
	if files["unknown.note"], err = note.Sign(&note.Note{Text: multiText}, unknown); err != nil {
		return err
	}

	tps := []int64{0, 1, 3, cosignedAt / 2, cosignedAt - 1}
	for _, i := range tps {
		proof, err := tlog.ProveRecord(cosignedAt, i, store)
		if err != nil {
			return err
		}
		files["tlogproof/"+strconv.FormatInt(i, 10)] = formatTlogProof(entries[i], i, proof, cosigned)
	}

	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := writeFile(dir, n, files[n]); err != nil {
			return err
		}
	}
	return writeManifest(dir, manifest{
		origin:      genOrigin,
		entries:     genEntries,
		checkpoints: genCheckpoints,
		tiles:       genTiles,
		tlogproofs:  tps,
		cosignedAt:  cosignedAt,
		cosignedTS:  genCosignedTS,
	})
}

func mustTreeHash(n int64, s hashStore) tlog.Hash {
	h, err := tlog.TreeHash(n, s)
	if err != nil {
		panic(err)
	}
	return h
}

// ---- sign -----------------------------------------------------------------

// signCmd signs DIR/text with the key in DIR/skey and writes the signed
// note to DIR/signed.
func signCmd(dir string) error {
	skey, err := readLine(dir, "skey")
	if err != nil {
		return err
	}
	text, err := os.ReadFile(filepath.Join(dir, "text"))
	if err != nil {
		return err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "signed"), msg, 0o644)
}

// ---- parse: differential verdicts on edge-case inputs. ------------------

// readHexLines reads DIR/name: one hex-encoded candidate per line (so that
// candidates may hold any byte, newlines included).
func readHexLines(dir, name string) ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	var out [][]byte
	if len(b) == 0 {
		return out, nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		v, err := hex.DecodeString(l)
		if err != nil {
			return nil, fmt.Errorf("%s: bad hex line %q: %v", name, l, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// noteCategory maps note.Open's errors onto the three outcomes C2SP
// signed-note distinguishes.
func noteCategory(err error) string {
	var unv *note.UnverifiedNoteError
	var bad *note.InvalidSignatureError
	switch {
	case errors.As(err, &unv):
		return "unverified"
	case errors.As(err, &bad):
		return "badsig"
	case err.Error() == "malformed note":
		return "malformed"
	default:
		return "other"
	}
}

// parseCmd prints, for every candidate in DIR/{names,vkeys,skeys,paths} and
// every note in DIR/notes/<i> (opened with the keys in DIR/notes.keys):
//
//	name <i> valid|invalid        (note.NewVerifier on a key of that name)
//	vkey <i> accept <hexname> <id>|reject
//	skey <i> accept <hexname> <id>|reject
//	path <i> accept <L> <N> <W>|reject   (C2SP path; L -1 for entries)
//	note <i> accept <verified>|reject <malformed|unverified|badsig|other>
func parseCmd(dir string) error {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()

	names, err := readHexLines(dir, "names")
	if err != nil {
		return err
	}
	pk := make([]byte, ed25519.PublicKeySize)
	(&detRand{seed: "name key"}).Read(pk)
	raw := append([]byte{0x01}, pk...)
	for i, n := range names {
		vkey := fmt.Sprintf("%s+%08x+%s", n, keyID(string(n), 0x01, pk), base64.StdEncoding.EncodeToString(raw))
		verdict := "invalid"
		if v, err := note.NewVerifier(vkey); err == nil && v.Name() == string(n) {
			verdict = "valid"
		}
		fmt.Fprintf(out, "name %d %s\n", i, verdict)
	}

	for _, kind := range []string{"vkey", "skey"} {
		keys, err := readHexLines(dir, kind+"s")
		if err != nil {
			return err
		}
		for i, k := range keys {
			var name string
			var id uint32
			if kind == "vkey" {
				v, err := note.NewVerifier(string(k))
				if err != nil {
					fmt.Fprintf(out, "vkey %d reject\n", i)
					continue
				}
				name, id = v.Name(), v.KeyHash()
			} else {
				s, err := note.NewSigner(string(k))
				if err != nil {
					fmt.Fprintf(out, "skey %d reject\n", i)
					continue
				}
				name, id = s.Name(), s.KeyHash()
			}
			fmt.Fprintf(out, "%s %d accept %x %08x\n", kind, i, name, id)
		}
	}

	paths, err := readHexLines(dir, "paths")
	if err != nil {
		return err
	}
	for i, p := range paths {
		// C2SP paths map onto Go's height-8 paths; "data" is Go's word
		// for entries and is not a C2SP level. ftlog documents that one
		// leading '/' is accepted; Go's Tile type documents L <= 63.
		s := strings.TrimPrefix(string(p), "/")
		t, err := tlog.ParseTilePath(goPath(s))
		if err != nil || strings.HasPrefix(s, "tile/data/") || t.L > 63 {
			fmt.Fprintf(out, "path %d reject\n", i)
			continue
		}
		fmt.Fprintf(out, "path %d accept %d %d %d\n", i, t.L, t.N, t.W)
	}

	keyLines, err := os.ReadFile(filepath.Join(dir, "notes.keys"))
	if err != nil {
		return err
	}
	var vs []note.Verifier
	for _, l := range strings.Split(strings.TrimSuffix(string(keyLines), "\n"), "\n") {
		if v, err := note.NewVerifier(l); err == nil {
			vs = append(vs, v)
			continue
		}
		w, err := parseWitnessKey(l)
		if err != nil {
			return fmt.Errorf("notes.keys: %q: %v", l, err)
		}
		vs = append(vs, &cosigVerifier{w: w})
	}
	count, err := readLine(dir, "notes.count")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		msg, err := os.ReadFile(filepath.Join(dir, "notes", strconv.Itoa(i)))
		if err != nil {
			return err
		}
		opened, err := note.Open(msg, note.VerifierList(vs...))
		if err != nil {
			fmt.Fprintf(out, "note %d reject %s\n", i, noteCategory(err))
			continue
		}
		fmt.Fprintf(out, "note %d accept %d\n", i, len(opened.Sigs))
	}
	return nil
}

// ---- synthetic: index math of huge trees. --------------------------------

// syntheticHash is the stand-in for the stored hash of node (level, n),
// shared with the C test: SHA-256("ftlog synthetic" || level || n_be64).
// The "tree" is not internally consistent, so its proofs do not verify;
// what is compared is which nodes the proofs and tree hashes are made of.
func syntheticHash(level int, n int64) tlog.Hash {
	var b [9]byte
	b[0] = byte(level)
	binary.BigEndian.PutUint64(b[1:], uint64(n))
	return sha256.Sum256(append([]byte("ftlog synthetic"), b[:]...))
}

type syntheticReader struct{}

func (syntheticReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		out[i] = syntheticHash(level, n)
	}
	return out, nil
}

func parseHashes(fields []string) ([]tlog.Hash, error) {
	var out []tlog.Hash
	for _, f := range fields {
		h, err := tlog.ParseHash(f)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// syntheticCmd answers each line of DIR/synthetic:
//
//	inclusion I S              -> inclusion I S <ProveRecord hashes>
//	consistency M N            -> consistency M N <ProveTree hashes>
//	treehash S                 -> treehash S <TreeHash>
//	check I S leaf root h...   -> check I S ok|fail  (tlog.CheckRecord)
func syntheticCmd(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "synthetic"))
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var r syntheticReader
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			return fmt.Errorf("synthetic: bad line %q", line)
		}
		nums, err := parseInts(f[1:min(len(f), 3)])
		if err != nil {
			return fmt.Errorf("synthetic: %q: %v", line, err)
		}
		var hs []tlog.Hash
		switch {
		case f[0] == "inclusion" && len(f) == 3:
			hs, err = tlog.ProveRecord(nums[1], nums[0], r)
		case f[0] == "consistency" && len(f) == 3:
			hs, err = tlog.ProveTree(nums[1], nums[0], r)
		case f[0] == "treehash" && len(f) == 2:
			var h tlog.Hash
			h, err = tlog.TreeHash(nums[0], r)
			hs = []tlog.Hash{h}
		case f[0] == "check" && len(f) >= 5:
			var all []tlog.Hash
			if all, err = parseHashes(f[3:]); err != nil {
				return fmt.Errorf("synthetic: %q: %v", line, err)
			}
			verdict := "ok"
			if tlog.CheckRecord(all[2:], nums[1], all[1], nums[0], all[0]) != nil {
				verdict = "fail"
			}
			fmt.Fprintf(out, "check %d %d %s\n", nums[0], nums[1], verdict)
			continue
		default:
			return fmt.Errorf("synthetic: bad line %q", line)
		}
		if err != nil {
			return fmt.Errorf("synthetic: %q: %v", line, err)
		}
		fmt.Fprint(out, f[0])
		for _, x := range f[1:] {
			fmt.Fprintf(out, " %s", x)
		}
		for _, h := range hs {
			fmt.Fprintf(out, " %s", h)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// ---- serve-verify: the Go reference against a running ftlogd. ----------

// httpTileReader fetches C2SP tiles from a running ftlogd for
// tlog.TileHashReader, which authenticates them against the tree hash.
type httpTileReader struct {
	get func(path string) ([]byte, error)
}

func (r httpTileReader) Height() int { return tileHeight }

func (r httpTileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.get("/" + c2spPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (r httpTileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// parseBundle splits a C2SP entry bundle that must hold exactly n entries.
func parseBundle(b []byte, n int) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated length prefix")
		}
		l := int(b[0])<<8 | int(b[1])
		if len(b) < 2+l {
			return nil, errors.New("truncated entry")
		}
		out = append(out, b[2:2+l])
		b = b[2+l:]
	}
	if len(out) != n {
		return nil, fmt.Errorf("bundle holds %d entries, want %d", len(out), n)
	}
	return out, nil
}

// parseServedProof parses an ftlogd proof answer: for inclusion proofs
// an "index I" line first (wantIndex >= 0), then one base64 hash a line.
func parseServedProof(b []byte, wantIndex int64) ([]tlog.Hash, error) {
	s := string(b)
	if wantIndex >= 0 {
		first := fmt.Sprintf("index %d\n", wantIndex)
		if !strings.HasPrefix(s, first) {
			return nil, fmt.Errorf("answer does not start with %q", first)
		}
		s = s[len(first):]
	}
	if s == "" {
		return nil, nil
	}
	if !strings.HasSuffix(s, "\n") {
		return nil, errors.New("answer does not end in a newline")
	}
	var out []tlog.Hash
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		h, err := tlog.ParseHash(l)
		if err != nil || h.String() != l {
			return nil, fmt.Errorf("bad hash line %q", l)
		}
		out = append(out, h)
	}
	return out, nil
}

// serveVerify checks a running ftlogd with the Go reference only: the
// served checkpoint opens with note.Open under VKEY; tlog.TileHashReader
// over tiles fetched by HTTP (and authenticated against that checkpoint)
// feeds tlog.ProveRecord and tlog.ProveTree; the records come from the
// served entry bundles; tlog.CheckRecord and tlog.CheckTree accept the
// proofs; and ftlogd's own /proof answers equal Go's proofs. OLD are files
// with older signed checkpoints of the same log. It prints lines as
// verify does:
//
//	ok vkey, ok checkpoint, ok treehash, ok record <I> (for I in 0, 1,
//	255, 256, 257, N/2, N-1 that are < N), ok tree <M> (per OLD file),
//	ok tampered tree hash refused, then the summary line.
func serveVerify(base, vkey string, olds []string) int {
	r := &reporter{out: bufio.NewWriter(os.Stdout)}
	defer r.out.Flush()
	finish := func() int {
		fmt.Fprintf(r.out, "summary ok=%d fail=%d\n", r.ok, r.fail)
		if r.fail != 0 {
			return 1
		}
		return 0
	}

	// Only ever talk to the loopback address, never through a proxy.
	const prefix = "http://127.0.0.1:"
	port := strings.TrimPrefix(base, prefix)
	if !strings.HasPrefix(base, prefix) || port == "" || strings.Trim(port, "0123456789") != "" {
		r.check("url", func() error { return fmt.Errorf("%q is not http://127.0.0.1:PORT", base) })
		return finish()
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{Proxy: nil},
		// A redirect could lead away from 127.0.0.1: never follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string) ([]byte, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<24))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d: %q", path, resp.StatusCode, b)
		}
		return b, nil
	}

	var verifier note.Verifier
	if !r.check("vkey", func() (err error) { verifier, err = note.NewVerifier(vkey); return }) {
		return finish()
	}
	openCheckpoint := func(msg []byte) (checkpoint, error) {
		n, err := note.Open(msg, note.VerifierList(verifier))
		if err != nil {
			return checkpoint{}, err
		}
		c, err := parseCheckpoint(n.Text)
		if err != nil {
			return c, err
		}
		if c.origin != verifier.Name() {
			return c, fmt.Errorf("origin %q is not the key name %q", c.origin, verifier.Name())
		}
		return c, nil
	}
	var cur checkpoint
	if !r.check("checkpoint", func() error {
		msg, err := get("/checkpoint")
		if err != nil {
			return err
		}
		if cur, err = openCheckpoint(msg); err != nil {
			return err
		}
		if cur.size == 0 {
			return errors.New("empty tree: nothing to check")
		}
		return nil
	}) {
		return finish()
	}
	n := cur.size
	tr := httpTileReader{get: get}
	thr := tlog.TileHashReader(tlog.Tree{N: n, Hash: cur.root}, tr)
	r.check("treehash", func() error {
		h, err := tlog.TreeHash(n, thr)
		if err != nil {
			return err
		}
		if h != cur.root {
			return fmt.Errorf("tlog.TreeHash %v, checkpoint root %v", h, cur.root)
		}
		return nil
	})

	seen := map[int64]bool{}
	var records []int64
	for _, i := range []int64{0, 1, 255, 256, 257, n / 2, n - 1} {
		if i >= 0 && i < n && !seen[i] {
			seen[i] = true
			records = append(records, i)
		}
	}
	sort.Slice(records, func(a, b int) bool { return records[a] < records[b] })
	for _, i := range records {
		r.check(fmt.Sprintf("record %d", i), func() error {
			proof, err := tlog.ProveRecord(n, i, thr)
			if err != nil {
				return fmt.Errorf("ProveRecord: %v", err)
			}
			bt := tlog.Tile{H: tileHeight, L: -1, N: i / tileWidth, W: tileWidth}
			if (i/tileWidth+1)*tileWidth > n {
				bt.W = int(n % tileWidth)
			}
			b, err := get("/" + c2spPath(bt))
			if err != nil {
				return err
			}
			entries, err := parseBundle(b, bt.W)
			if err != nil {
				return fmt.Errorf("%s: %v", c2spPath(bt), err)
			}
			leaf := tlog.RecordHash(entries[i%tileWidth])
			if err := tlog.CheckRecord(proof, n, cur.root, i, leaf); err != nil {
				return fmt.Errorf("CheckRecord: %v", err)
			}
			for _, q := range []string{
				fmt.Sprintf("/proof/inclusion?index=%d&size=%d", i, n),
				fmt.Sprintf("/proof/inclusion?leaf=%x&size=%d", leaf[:], n),
			} {
				b, err := get(q)
				if err != nil {
					return err
				}
				served, err := parseServedProof(b, i)
				if err != nil {
					return fmt.Errorf("%s: %v", q, err)
				}
				if !equalHashes(served, proof) {
					return fmt.Errorf("%s differs from tlog.ProveRecord", q)
				}
			}
			return nil
		})
	}

	for _, path := range olds {
		msg, err := os.ReadFile(path)
		if err != nil {
			r.check("tree "+path, func() error { return err })
			continue
		}
		old, err := openCheckpoint(msg)
		if err != nil {
			r.check("tree "+path, func() error { return err })
			continue
		}
		r.check(fmt.Sprintf("tree %d", old.size), func() error {
			if old.size < 1 || old.size > n {
				return fmt.Errorf("old size %d not in 1..%d", old.size, n)
			}
			h, err := tlog.TreeHash(old.size, thr)
			if err != nil {
				return err
			}
			if h != old.root {
				return fmt.Errorf("tlog.TreeHash(%d) %v, old checkpoint root %v", old.size, h, old.root)
			}
			proof, err := tlog.ProveTree(n, old.size, thr)
			if err != nil {
				return fmt.Errorf("ProveTree: %v", err)
			}
			if err := tlog.CheckTree(proof, n, cur.root, old.size, old.root); err != nil {
				return fmt.Errorf("CheckTree: %v", err)
			}
			q := fmt.Sprintf("/proof/consistency?old=%d&new=%d", old.size, n)
			b, err := get(q)
			if err != nil {
				return err
			}
			served, err := parseServedProof(b, -1)
			if err != nil {
				return fmt.Errorf("%s: %v", q, err)
			}
			if !equalHashes(served, proof) {
				return fmt.Errorf("%s differs from tlog.ProveTree", q)
			}
			return nil
		})
	}

	// The tiles are really authenticated: a tree hash that is off by one
	// bit must make the tile reader refuse them.
	r.check("tampered tree hash refused", func() error {
		bad := cur.root
		bad[0] ^= 1
		badr := tlog.TileHashReader(tlog.Tree{N: n, Hash: bad}, tr)
		if _, err := tlog.ProveRecord(n, n-1, badr); err == nil {
			return errors.New("tlog accepted tiles against a wrong tree hash")
		}
		return nil
	})
	return finish()
}

// ---- dsse-verify: DSSE v1 envelopes, independently of libftevent. ------

// dsseKey is an Ed25519 note verifier key: its DSSE keyid as ftlog writes
// it ("<name>+<hex8 key hash>") and the raw public key.
type dsseKey struct {
	keyid string
	pub   ed25519.PublicKey
}

// dsseParseKey reads a verifier key given as a string or as a file holding
// one line. note.NewVerifier checks the format and key hash; the public key
// itself is decoded here from the third "+"-separated field (type byte 0x01,
// 32 bytes), as the note package does not export it.
func dsseParseKey(arg string) (dsseKey, error) {
	s := arg
	if b, err := os.ReadFile(arg); err == nil {
		s = strings.TrimRight(string(b), "\n")
	}
	v, err := note.NewVerifier(s)
	if err != nil {
		return dsseKey{}, fmt.Errorf("key %q: %v", arg, err)
	}
	// name+hex8+base64: names hold no '+', but base64 may.
	parts := strings.SplitN(s, "+", 3)
	if len(parts) != 3 {
		return dsseKey{}, fmt.Errorf("key %q: malformed", arg)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x01 {
		return dsseKey{}, fmt.Errorf("key %q: not an Ed25519 verifier key", arg)
	}
	return dsseKey{
		keyid: fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()),
		pub:   ed25519.PublicKey(raw[1:]),
	}, nil
}

// dsseB64 decodes DSSE base64: standard or URL-safe alphabet, padded or
// not (DSSE allows both).
func dsseB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding,
		base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("invalid base64")
}

// dssePAE is DSSE v1's pre-authentication encoding:
// "DSSEv1" SP len(type) SP type SP len(body) SP body.
func dssePAE(typ string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "DSSEv1 %d %s %d ", len(typ), typ, len(body))
	b.Write(body)
	return b.Bytes()
}

func dsseVerify(file string, keyArgs []string) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	var env struct {
		PayloadType *string `json:"payloadType"`
		Payload     *string `json:"payload"`
		Signatures  []struct {
			KeyID string  `json:"keyid"`
			Sig   *string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return 0, fmt.Errorf("envelope: %v", err)
	}
	if env.PayloadType == nil || env.Payload == nil || len(env.Signatures) == 0 {
		return 0, fmt.Errorf("envelope: payloadType, payload or signatures missing")
	}
	if *env.PayloadType != "application/vnd.in-toto+json" {
		return 0, fmt.Errorf("envelope: unexpected payloadType %q", *env.PayloadType)
	}
	payload, err := dsseB64(*env.Payload)
	if err != nil {
		return 0, fmt.Errorf("payload: %v", err)
	}
	var stmt struct {
		Type string `json:"_type"`
	}
	if err := json.Unmarshal(payload, &stmt); err != nil ||
		stmt.Type != "https://in-toto.io/Statement/v1" {
		return 0, fmt.Errorf("payload is not an in-toto Statement v1")
	}
	keys := map[string]dsseKey{}
	for _, a := range keyArgs {
		k, err := dsseParseKey(a)
		if err != nil {
			return 0, err
		}
		keys[k.keyid] = k
	}
	pae := dssePAE(*env.PayloadType, payload)
	n := 0
	for i, s := range env.Signatures {
		k, ok := keys[s.KeyID]
		if !ok {
			continue // not one of ours: DSSE ignores it
		}
		if s.Sig == nil {
			return 0, fmt.Errorf("signature %d: no sig", i)
		}
		sig, err := dsseB64(*s.Sig)
		if err != nil || len(sig) != ed25519.SignatureSize {
			return 0, fmt.Errorf("signature %d (%s): malformed", i, s.KeyID)
		}
		if !ed25519.Verify(k.pub, pae, sig) {
			return 0, fmt.Errorf("signature %d (%s): does not verify", i, s.KeyID)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("no signature by any of the given keys")
	}
	return n, nil
}

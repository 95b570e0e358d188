/*
 * tests/fuzz/fuzz_note.c - signed notes and key strings from outside.
 *
 * Every input is offered to ft_note_open (against two fixed Ed25519 keys
 * and one fixed cosignature key), ft_vkey_parse, ft_skey_parse and
 * ft_key_name_valid. Invariants, checked with __builtin_trap():
 *  - a failed open clears its outputs; a successful one returns a text that
 *    ends in "\n", is followed by the last blank line of the note, and was
 *    verified by at least one known key;
 *  - opening with each known key alone agrees with opening with all of
 *    them (a key's verdict depends only on its own lines);
 *  - a line that verified for one of our keys is exactly the line we
 *    would sign ourselves (signing is deterministic; no other spelling);
 *  - a text that opened re-signs with our keys and opens again;
 *  - a parsed key formats back to the input (the hex key id aside, which
 *    may be upper case on input), its key id matches, and a parsed signer
 *    key signs a note its public half verifies;
 *  - a failed parse leaves its output untouched (or cleared).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/note.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_skey g_sk[FUZZ_NKEYS];
static ft_vkey g_vk[FUZZ_NKEYS];

/* Timestamp of the cosignatures this target makes itself. */
#define FUZZ_TS 1700000000u

static uint8_t g_note[FT_NOTE_MAX_BYTES + 4096];

static void init_once(void)
{
	static bool done;

	if (!done) {
		fuzz_keys(g_sk, g_vk);
		done = true;
	}
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/*
 * in[0..len) must equal the formatted key out[0..len) byte for byte, but
 * for the 8 hex digits at hex, which only have to match case-insensitively.
 */
static void check_key_string(const uint8_t *in, size_t len, const char *out,
			     size_t out_len, size_t hex)
{
	FUZZ_CHECK(out_len == len);
	FUZZ_CHECK(hex + 8 <= len);
	for (size_t i = 0; i < len; i++) {
		uint8_t o = (uint8_t)out[i];

		if (i >= hex && i < hex + 8) {
			FUZZ_CHECK(lower(in[i]) == o);
		} else {
			FUZZ_CHECK(in[i] == o);
		}
	}
	FUZZ_CHECK(out[out_len] == '\0');
}

/* 1 if (needle, n) occurs in (hay, len). */
static int contains(const uint8_t *hay, size_t len, const char *needle,
		    size_t n)
{
	for (size_t i = 0; n <= len && i <= len - n; i++) {
		if (memcmp(hay + i, needle, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * Ed25519 signing is deterministic and the fuzzer cannot forge, so a line
 * that verified for one of our keys is the one we would write ourselves:
 * any other spelling of it (a non-canonical base64, say) was accepted by
 * mistake.
 */
static void check_canonical_lines(const uint8_t *data, size_t size,
				  size_t text_len, const ft_note_sig *st)
{
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	size_t n = 0;

	for (unsigned k = 0; k < FUZZ_NKEYS; k++) {
		if (!st[k].verified) {
			continue;
		}
		FUZZ_CHECK(ft_note_sig_line(&g_sk[k], data, text_len,
					    st[k].timestamp, line, sizeof line,
					    &n) == 0);
		FUZZ_CHECK(contains(data + text_len + 1, size - text_len - 1,
				    line, n));
	}
}

static void fuzz_open(const uint8_t *data, size_t size)
{
	ft_note_sig st[FUZZ_NKEYS];
	size_t text_len = 12345;

	memset(st, 0xa5, sizeof st);
	int rc = ft_note_open(data, size, g_vk, FUZZ_NKEYS, st, &text_len);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK(text_len == 0);
		for (unsigned k = 0; k < FUZZ_NKEYS; k++) {
			FUZZ_CHECK(st[k].verified == 0 && st[k].timestamp == 0);
		}
	} else {
		unsigned nver = 0;

		FUZZ_CHECK(size <= FT_NOTE_MAX_BYTES);
		FUZZ_CHECK(text_len > 0 && text_len + 1 < size);
		FUZZ_CHECK(data[text_len - 1] == '\n');
		FUZZ_CHECK(data[text_len] == '\n');
		FUZZ_CHECK(data[size - 1] == '\n');
		/* The text ends at the last blank line. */
		for (size_t j = text_len; j + 1 < size; j++) {
			FUZZ_CHECK(!(data[j] == '\n' && data[j + 1] == '\n'));
		}
		for (unsigned k = 0; k < FUZZ_NKEYS; k++) {
			FUZZ_CHECK(st[k].verified == 0 || st[k].verified == 1);
			nver += (unsigned)st[k].verified;
		}
		FUZZ_CHECK(nver > 0);
		check_canonical_lines(data, size, text_len, st);
	}

	/* Each key alone: its verdict depends only on its own lines. */
	if (rc == 0 || rc == FT_ENOTE_NOKEY) {
		for (unsigned k = 0; k < FUZZ_NKEYS; k++) {
			ft_note_sig one;
			size_t one_len = 0;
			int r1 = ft_note_open(data, size, &g_vk[k], 1, &one,
					      &one_len);

			if (rc == 0 && st[k].verified) {
				FUZZ_CHECK(r1 == 0 && one.verified == 1);
				FUZZ_CHECK(one_len == text_len);
				FUZZ_CHECK(one.timestamp == st[k].timestamp);
			} else {
				FUZZ_CHECK(r1 == FT_ENOTE_NOKEY);
			}
		}
	}
	if (rc != 0) {
		return;
	}

	/* The text re-signs with our own keys and opens again. */
	size_t nsign = FUZZ_NKEYS;
	if (text_len + 64 > FT_COSIG_TEXT_MAX) {
		nsign = FUZZ_KEY_WITNESS; /* too long to cosign */
	}
	size_t len = 0;
	rc = ft_note_sign(data, text_len, g_sk, nsign, FUZZ_TS, g_note,
			  sizeof g_note, &len);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(len > text_len && memcmp(g_note, data, text_len) == 0);
	if (len > FT_NOTE_MAX_BYTES) {
		return;
	}
	size_t len2 = 0;
	rc = ft_note_open(g_note, len, g_vk, FUZZ_NKEYS, st, &len2);
	FUZZ_CHECK(rc == 0 && len2 == text_len);
	for (size_t k = 0; k < nsign; k++) {
		FUZZ_CHECK(st[k].verified == 1);
	}
	if (nsign == FUZZ_NKEYS) {
		FUZZ_CHECK(st[FUZZ_KEY_WITNESS].timestamp == FUZZ_TS);
	}
}

static void fuzz_vkey(const uint8_t *data, size_t size)
{
	ft_vkey vk;
	char buf[FT_KEY_STR_MAX + 1];
	size_t len = 0;

	memset(&vk, 0xa5, sizeof vk);
	int rc = ft_vkey_parse((const char *)data, size, &vk);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK_UNTOUCHED(&vk, 0xa5);
		return;
	}
	FUZZ_CHECK(size <= FT_KEY_STR_MAX);
	FUZZ_CHECK(vk.type == FT_KEY_ED25519 || vk.type == FT_KEY_COSIG_V1);
	FUZZ_CHECK(vk.name_len > 0 && vk.name_len <= FT_KEY_NAME_MAX);
	FUZZ_CHECK(vk.name[vk.name_len] == '\0');
	FUZZ_CHECK(ft_key_name_valid(vk.name, vk.name_len) == 1);
	FUZZ_CHECK(vk.id == ft_key_id(vk.name, vk.name_len, vk.type, vk.pk));
	FUZZ_CHECK(ft_vkey_format(&vk, buf, sizeof buf, &len) == 0);
	check_key_string(data, size, buf, len, vk.name_len + 1);
}

static void fuzz_skey(const uint8_t *data, size_t size)
{
	static const char prefix[] = "PRIVATE+KEY+";
	static const uint8_t text[] = "fuzz\n";
	ft_skey sk;
	ft_vkey vk;
	ft_note_sig st;
	char buf[FT_KEY_STR_MAX + 1];
	uint8_t note[1024];
	size_t len = 0;

	memset(&sk, 0xa5, sizeof sk);
	int rc = ft_skey_parse((const char *)data, size, &sk);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK_UNTOUCHED(&sk, 0xa5);
		return;
	}
	FUZZ_CHECK(size <= FT_KEY_STR_MAX);
	FUZZ_CHECK(sk.type == FT_KEY_ED25519 || sk.type == FT_KEY_COSIG_V1);
	FUZZ_CHECK(sk.name_len > 0 && sk.name_len <= FT_KEY_NAME_MAX);
	FUZZ_CHECK(sk.name[sk.name_len] == '\0');
	FUZZ_CHECK(ft_key_name_valid(sk.name, sk.name_len) == 1);
	FUZZ_CHECK(memcmp(sk.sk + 32, sk.pk, 32) == 0);
	FUZZ_CHECK(sk.id == ft_key_id(sk.name, sk.name_len, sk.type, sk.pk));
	FUZZ_CHECK(ft_skey_format(&sk, buf, sizeof buf, &len) == 0);
	check_key_string(data, size, buf, len,
			 sizeof prefix - 1 + sk.name_len + 1);

	/* The parsed key works: what it signs, its public half opens. */
	ft_skey_public(&sk, &vk);
	FUZZ_CHECK(vk.id == sk.id && vk.type == sk.type);
	FUZZ_CHECK(ft_note_sign(text, sizeof text - 1, &sk, 1, FUZZ_TS, note,
				sizeof note, &len) == 0);
	size_t text_len = 0;
	FUZZ_CHECK(ft_note_open(note, len, &vk, 1, &st, &text_len) == 0);
	FUZZ_CHECK(st.verified == 1 && text_len == sizeof text - 1);
	ft_skey_wipe(&sk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	(void)ft_key_name_valid((const char *)data, size);
	fuzz_open(data, size);
	fuzz_vkey(data, size);
	fuzz_skey(data, size);
	return 0;
}

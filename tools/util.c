/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the tool's commands: output of strings the watched
 * process controls (mapping names, command lines) as JSON, XML or terminal
 * text. Such a string is hostile input: it may hold control sequences meant
 * for the operator's terminal, bytes that are not UTF-8, or characters that
 * make XML ill-formed. Each writer passes well-formed printable UTF-8 through
 * and writes every other byte as the four characters \xNN, so the output is
 * always valid in its format and the name stays recognisable. And the
 * monotonic clock, in seconds.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <time.h>

#include "util.h"

/*
 * Length of the well-formed UTF-8 sequence at s (1..4) whose code point is
 * safe to show, or 0: a byte that is not printable ASCII (controls, DEL),
 * an ill-formed sequence (overlong, surrogate, beyond U+10FFFF, truncated),
 * a C1 control (U+0080..U+009F, which terminals obey as escapes), or a
 * character that reorders or hides text (bidirectional controls, U+2028/9).
 */
size_t ww_safe_char(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0; /* overlong or too large */
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0; /* surrogates, C1 controls */
	if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff)
		return 0; /* invisible and bidirectional formatting */
	return n;
}

void text_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t n = ww_safe_char(s);

		if (n == 1 && *s == '\\')
			fputs("\\\\", f);
		else if (n)
			fwrite(s, 1, n, f);
		else
			fprintf(f, "\\x%02x", *s);
		s += n ? n : 1;
	}
}

void json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n = ww_safe_char(s);

		if (n == 1 && (*s == '"' || *s == '\\'))
			fprintf(f, "\\%c", *s);
		else if (n)
			fwrite(s, 1, n, f);
		else
			fprintf(f, "\\\\x%02x", *s); /* the text \xNN, as in text_str */
		s += n ? n : 1;
	}
	fputc('"', f);
}

void xml_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t n = ww_safe_char(s);

		if (n == 1 && *s == '<')
			fputs("&lt;", f);
		else if (n == 1 && *s == '>')
			fputs("&gt;", f);
		else if (n == 1 && *s == '&')
			fputs("&amp;", f);
		else if (n == 1 && *s == '"')
			fputs("&quot;", f);
		else if (n == 1 && *s == '\\')
			fputs("\\\\", f);
		else if (n)
			fwrite(s, 1, n, f);
		else
			fprintf(f, "\\x%02x", *s);
		s += n ? n : 1;
	}
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

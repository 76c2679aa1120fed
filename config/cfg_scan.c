/*
 * cfg_scan.c - pre-pass over the raw configuration text.
 *
 * libconfuse does the real parsing, but its 3.3 lexer has two faults we
 * cannot live with: line numbers drift by two for every comment, and a
 * comment inside a { } list is a syntax error.  So before handing the
 * text over we blank every '#' comment (newlines stay, so line numbers
 * stay true) and refuse the few constructs whose meaning in libconfuse is
 * surprising.  The scanner only tracks what decides where a comment can
 * start: double-quoted strings (backslash escapes), single-quoted strings
 * (backslash escapes), and everything else.  It is linear and touches
 * each byte once.  It also counts braces, because libconfuse silently
 * accepts a section that is still open at the end of the file.
 */
#include <stddef.h>

#include "cfg_int.h"

enum cfg_prescan_state {
	CFG_SCAN_TEXT,
	CFG_SCAN_DQUOTE,
	CFG_SCAN_SQUOTE,
	CFG_SCAN_COMMENT
};

/* A token starts after whitespace or one of libconfuse's punctuators. */
static int
cfg_prescan_token_start(const char *buf, size_t i)
{
	if (i == 0)
		return 1;
	switch (buf[i - 1]) {
	case ' ': case '\t': case '\r': case '\n':
	case '=': case '{': case '}': case '(': case ')': case ',':
		return 1;
	default:
		return 0;
	}
}

int
cfg_prescan(char *buf, size_t len, unsigned *line, const char **msg)
{
	enum cfg_prescan_state st = CFG_SCAN_TEXT;
	unsigned ln = 1, quote_line = 0;
	unsigned open_line[CFG_MAX_NESTING];
	size_t i, depth = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\0') {
			*line = ln;
			*msg = "NUL byte in configuration file";
			return -1;
		}
		switch (st) {
		case CFG_SCAN_TEXT:
			if (c == '#') {
				st = CFG_SCAN_COMMENT;
				buf[i] = ' ';
			} else if (c == '"' || c == '\'') {
				st = c == '"' ? CFG_SCAN_DQUOTE : CFG_SCAN_SQUOTE;
				quote_line = ln;
			} else if (c == '$' && i + 1 < len && buf[i + 1] == '{') {
				goto dollar;
			} else if (c == '{') {
				/* libconfuse accepts a section left open at EOF */
				if (depth == CFG_MAX_NESTING) {
					*line = ln;
					*msg = "braces nested too deeply";
					return -1;
				}
				open_line[depth++] = ln;
			} else if (c == '}') {
				if (depth > 0)	/* an extra '}': libconfuse says */
					depth--;
			} else if (c == '/' && i + 1 < len && (buf[i + 1] == '*' ||
			    (buf[i + 1] == '/' && cfg_prescan_token_start(buf, i)))) {
				*line = ln;
				*msg = "only '#' comments are supported";
				return -1;
			}
			break;
		case CFG_SCAN_DQUOTE:
			if (c == '\\' && i + 1 < len) {
				if (buf[++i] == '\n')
					ln++;
			} else if (c == '"') {
				st = CFG_SCAN_TEXT;
			} else if (c == '$' && i + 1 < len && buf[i + 1] == '{') {
				goto dollar;
			}
			break;
		case CFG_SCAN_SQUOTE:
			/* libconfuse does not expand ${} inside '...' */
			if (c == '\\' && i + 1 < len) {
				if (buf[++i] == '\n')
					ln++;
			} else if (c == '\'') {
				st = CFG_SCAN_TEXT;
			}
			break;
		case CFG_SCAN_COMMENT:
			if (c == '\n')
				st = CFG_SCAN_TEXT;
			else
				buf[i] = ' ';
			break;
		}
		if (c == '\n')
			ln++;
	}
	if (st == CFG_SCAN_DQUOTE || st == CFG_SCAN_SQUOTE) {
		*line = quote_line;
		*msg = "unterminated quoted string";
		return -1;
	}
	if (depth > 0) {
		*line = open_line[depth - 1];
		*msg = "'{' is never closed";
		return -1;
	}
	return 0;

dollar:
	*line = ln;
	*msg = "\"${\" is not allowed: sealpost does not expand environment "
	    "variables in its configuration";
	return -1;
}

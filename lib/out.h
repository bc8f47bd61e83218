/* SPDX-License-Identifier: MIT */
#ifndef CTNET_OUT_H
#define CTNET_OUT_H

/*
 * The one output layer, after iproute2's json_print: a command describes each row once,
 * field by field, and the same calls print it for people (text), for a shell to source
 * (KEY=VALUE, values quoted) or as JSON (the one JSON printer: keys in the order described,
 * 2-space indent).
 *
 *	out_open_object(o, NULL);
 *	out_str(o, PRINT_ANY, "name", "NAME=%s\n", name);   text/shell: the format; JSON: "name"
 *	out_int(o, PRINT_JSON, "pid", NULL, pid);           JSON only
 *	out_text(o, "\n");                                  text only
 *	out_close_object(o);
 *
 * JSON is printed when its outermost object or array closes. Text is written as described;
 * a write that fails is seen by ctnet_cli_flush() when main returns.
 *
 * Tables: columns (key, title, width) declared once give the header and every row's cells.
 * Inside a row, until out_row_flush(), a field whose key names a column fills that cell (the
 * column formats it; the call's own format is for outside tables) and other text is not
 * shown: a row is one line of the columns, whatever else its JSON object holds.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum out_mode {
	OUT_TEXT,
	OUT_SHELL,      /* text whose string values are quoted for sh (ctnet_kv_put's quoting) */
	OUT_JSON,       /* each outermost value pretty-printed when it closes */
	OUT_JSON_LINES, /* each outermost value on one line (a log) */
};

/* Which renderings a call takes part in: text (and shell), JSON, or both. */
enum out_type { PRINT_FP = 1, PRINT_JSON = 2, PRINT_ANY = 3 };

struct out_col {
	const char *key;   /* the field that fills the cell */
	const char *title; /* the header; NULL: a suffix column (no header, no separator, "" by default) */
	int width;         /* < 0: left-aligned in -width; > 0: right-aligned; 0: as it is */
	const char *fmt;   /* the cell from the value's text; NULL: "%s" */
	const char *none;  /* a row that sets no value (or ""); NULL: "-" (suffix: "") */
	bool shorten;      /* longer than the width: cut, its last character '~' */
};

#define OUT_DEPTH 8
#define OUT_COLS 12
#define OUT_CELL_MAX 320

struct out {
	FILE *f;
	enum out_mode mode;
	int err; /* the first failure: -ENOMEM, -EIO, -E2BIG (nested too deep) */
	size_t depth;
	json_t *stack[OUT_DEPTH]; /* JSON: the open objects and arrays */
	json_t *slot;             /* the placeholder out_json_slot() leaves */
	json_t *root;             /* a capture's value */
	bool capture;             /* into buf and root, not f */
	char *buf;
	size_t len, cap;
	/* the table and its row */
	const struct out_col *cols;
	size_t ncols;
	bool header_due, in_row, row_done;
	bool set[OUT_COLS];
	char cell[OUT_COLS][OUT_CELL_MAX];
};

/* A row made apart (in another thread) by a capture, put in the output in order later. */
struct out_piece {
	char *text;
	json_t *json;
};

void out_init(struct out *o, FILE *f, enum out_mode mode);
/* The end: 0, or the first failure (-ENOMEM...). JSON still open (a description cut short
 * by a failure) is dropped, not printed. Write errors of text are left to ctnet_cli_flush(). */
int out_end(struct out *o);
bool out_is_json(const struct out *o);

void out_open_object(struct out *o, const char *key);
void out_close_object(struct out *o);
void out_open_array(struct out *o, const char *key);
void out_close_array(struct out *o);
/* Where key goes in the JSON object being described when the text says it later: the key
 * keeps this place when it is set; one never set is left out. */
void out_json_slot(struct out *o, const char *key);

/* Fields. key: the JSON key (NULL inside an array); fmt: its text (NULL: none outside
 * tables). A NULL string is JSON null and no text. */
#define out_str(o, t, key, fmt, v) (OUT_CHECK_(fmt, "%s", v), out_str_(o, t, key, fmt, v))
#define out_int(o, t, key, fmt, v) (OUT_CHECK_(fmt, "%lld", (long long)(v)), out_int_(o, t, key, fmt, v))
#define out_uint(o, t, key, fmt, v) \
	(OUT_CHECK_(fmt, "%llu", (unsigned long long)(v)), out_uint_(o, t, key, fmt, v))
void out_bool(struct out *o, enum out_type t, const char *key, bool v);
void out_real(struct out *o, enum out_type t, const char *key, double v);
void out_null(struct out *o, const char *key);
/* What the macros above call once the compiler has checked the format against the value
 * (out_int's formats take a long long, out_uint's an unsigned long long). */
void out_str_(struct out *o, enum out_type t, const char *key, const char *fmt, const char *v);
void out_int_(struct out *o, enum out_type t, const char *key, const char *fmt, long long v);
void out_uint_(struct out *o, enum out_type t, const char *key, const char *fmt, unsigned long long v);
/* Never defined nor called: only its format attribute is used, inside sizeof. */
int out_fmt_check_(const char *fmt, ...) CTNET_PRINTF(1, 2);
#define OUT_CHECK_(fmt, dflt, v) ((void)sizeof(out_fmt_check_((fmt) ? (fmt) : dflt, v)))
/* Text only (text and shell modes), as printf; not shown inside a row's line. */
void out_text(struct out *o, const char *fmt, ...) CTNET_PRINTF(2, 3);

/* A table: JSON an array (key, NULL at the top); text the header (now, or before the first
 * row with OUT_HEADER_LATER; none with OUT_NO_HEADER) and one line per row. */
enum { OUT_HEADER_LATER = 1, OUT_NO_HEADER = 2 };
void out_table_open(struct out *o, const char *key, const struct out_col *cols, size_t n, unsigned flags);
void out_table_close(struct out *o);
/* The columns only: rows of a capture, put in a table later. */
void out_table_cols(struct out *o, const struct out_col *cols, size_t n);
void out_row_open(struct out *o);
/* Ends the row's line now: what the row describes next is printed as text again. */
void out_row_flush(struct out *o);
void out_row_close(struct out *o);

/* A capture: an output of this mode into a piece, not a file. */
void out_capture(struct out *o, enum out_mode mode);
/* The capture's text or JSON into *p (the capture is done; what is still open is dropped);
 * 0 or -ENOMEM. */
int out_capture_end(struct out *o, struct out_piece *p);
/* Puts p where the output is (JSON: into the array open) and frees it. */
void out_put(struct out *o, struct out_piece *p);
void out_piece_free(struct out_piece *p);

/* Text written so far to the file (watch's log lines are read as they come). */
void out_flush(struct out *o);

#endif

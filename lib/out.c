/* SPDX-License-Identifier: MIT */
/* The one output layer (out.h): text, shell or JSON from the same description. */
#include "out.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "nixosconf.h"

/* The formats here are the callers' string literals, checked against their values where
 * they are written (out.h's macros); this file only passes them on. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static bool json_mode(const struct out *o)
{
	return o->mode == OUT_JSON || o->mode == OUT_JSON_LINES;
}

bool out_is_json(const struct out *o)
{
	return json_mode(o);
}

static void fail(struct out *o, int e)
{
	if (!o->err)
		o->err = e;
}

void out_init(struct out *o, FILE *f, enum out_mode mode)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->mode = mode;
}

void out_capture(struct out *o, enum out_mode mode)
{
	out_init(o, NULL, mode);
	o->capture = true;
}

/* Text as it is: to the file, or to a capture's buffer. */
static void emit_v(struct out *o, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (!o->capture) {
		vfprintf(o->f, fmt, ap);
		return;
	}
	va_copy(aq, ap);
	n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		fail(o, -EINVAL);
		return;
	}
	if (o->len + (size_t)n + 1 > o->cap) {
		size_t cap = 2 * (o->len + (size_t)n + 1);
		char *b = realloc(o->buf, cap < 256 ? 256 : cap);
		if (!b) {
			fail(o, -ENOMEM);
			return;
		}
		o->buf = b;
		o->cap = cap < 256 ? 256 : cap;
		vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	}
	o->len += (size_t)n;
}

static void CTNET_PRINTF(2, 3) emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit_v(o, fmt, ap);
	va_end(ap);
}

void out_text(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (json_mode(o) || (o->in_row && !o->row_done))
		return;
	va_start(ap, fmt);
	emit_v(o, fmt, ap);
	va_end(ap);
}

void out_flush(struct out *o)
{
	if (!o->capture && o->f)
		fflush(o->f);
}

/* v as sh reads it back: bare or in '...' as ctnet_kv_put writes it, else (a ' among other
 * specials, control bytes) in the shell's own '...'\''...' form. Allocated; NULL: no memory. */
static char *shell_quote(const char *v)
{
	size_t n = strlen(v);
	char *q = malloc(4 * n + 8);
	struct ctnet_err ignored;
	struct ctnet_kv_out kv = { .p = q, .cap = n + 8, .what = "value", .err = &ignored };
	char *p = q;

	if (!q)
		return NULL;
	if (ctnet_kv_put(&kv, "X", v) == 0) { /* "X=VALUE\n" */
		memmove(q, q + 2, kv.len - 3);
		q[kv.len - 3] = '\0';
		return q;
	}
	*p++ = '\'';
	for (; *v; v++) {
		if (*v == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *v;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/* --- JSON values --- */

static json_t *parent(const struct out *o)
{
	return o->depth && o->depth <= OUT_DEPTH ? o->stack[o->depth - 1] : NULL;
}

/* An outermost value, complete: printed, or kept by a capture. Steals v. */
static void top(struct out *o, json_t *v)
{
	if (o->capture) {
		json_decref(o->root);
		o->root = v;
	} else if (o->mode == OUT_JSON) {
		if (ctnet_json_print(o->f, v) < 0)
			fail(o, -EIO);
	} else {
		if (json_dumpf(v, o->f, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 || fputc('\n', o->f) == EOF)
			fail(o, -EIO);
		json_decref(v);
	}
}

/* v under key in the object open, or at the end of the array open. Steals v. */
static void attach(struct out *o, const char *key, json_t *v)
{
	json_t *p = parent(o);

	if (!v)
		return; /* not UTF-8 (jansson refuses it), or no memory: left out */
	if (!o->depth)
		top(o, v);
	else if (json_is_array(p))
		json_array_append_new(p, v);
	else if (json_is_object(p) && key)
		json_object_set_new(p, key, v);
	else
		json_decref(v);
}

static void open_any(struct out *o, const char *key, bool array)
{
	json_t *v = NULL;

	if (json_mode(o)) {
		if (!(v = array ? json_array() : json_object()))
			fail(o, -ENOMEM);
		else if (o->depth)
			attach(o, key, json_incref(v));
	}
	if (o->depth == OUT_DEPTH) {
		fail(o, -E2BIG);
		json_decref(v);
	} else if (o->depth < OUT_DEPTH) {
		o->stack[o->depth] = v;
	}
	o->depth++;
}

/* Keys out_json_slot() placed and nobody set: left out. */
static void slots_drop(struct out *o, json_t *obj)
{
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(obj, tmp, k, v) {
		if (v == o->slot)
			json_object_del(obj, k);
	}
}

static void close_any(struct out *o)
{
	json_t *v;

	if (!o->depth)
		return;
	o->depth--;
	if (o->depth >= OUT_DEPTH || !(v = o->stack[o->depth]))
		return;
	o->stack[o->depth] = NULL;
	if (o->slot && json_is_object(v))
		slots_drop(o, v);
	if (o->depth)
		json_decref(v); /* the reference open_any kept; the parent holds its own */
	else
		top(o, v);
}

void out_open_object(struct out *o, const char *key)
{
	open_any(o, key, false);
}

void out_open_array(struct out *o, const char *key)
{
	open_any(o, key, true);
}

void out_close_object(struct out *o)
{
	close_any(o);
}

void out_close_array(struct out *o)
{
	close_any(o);
}

void out_json_slot(struct out *o, const char *key)
{
	json_t *p = parent(o);

	if (!json_is_object(p))
		return;
	if (!o->slot && !(o->slot = json_object())) {
		fail(o, -ENOMEM);
		return;
	}
	json_object_set(p, key, o->slot);
}

/* --- fields --- */

/* Inside a row's line, text goes to the cell of its key or is not shown: true. */
static bool to_cell(struct out *o, const char *key, const char *text)
{
	if (!o->in_row || o->row_done)
		return false;
	for (size_t i = 0; key && i < o->ncols; i++) {
		if (strcmp(o->cols[i].key, key))
			continue;
		snprintf(o->cell[i], sizeof(o->cell[i]), "%s", text);
		o->set[i] = text[0] != '\0';
		break;
	}
	return true;
}

void out_str_(struct out *o, enum out_type t, const char *key, const char *fmt, const char *v)
{
	char *q;

	if (json_mode(o)) {
		if (t & PRINT_JSON)
			attach(o, key, v ? json_string(v) : json_null());
		return;
	}
	if (!(t & PRINT_FP) || !v || to_cell(o, key, v) || !fmt)
		return;
	if (o->mode != OUT_SHELL) {
		emit(o, fmt, v);
		return;
	}
	if (!(q = shell_quote(v))) {
		fail(o, -ENOMEM);
		return;
	}
	emit(o, fmt, q);
	free(q);
}

void out_int_(struct out *o, enum out_type t, const char *key, const char *fmt, long long v)
{
	char text[24];

	if (json_mode(o)) {
		if (t & PRINT_JSON)
			attach(o, key, json_integer(v));
		return;
	}
	snprintf(text, sizeof(text), "%lld", v);
	if ((t & PRINT_FP) && !to_cell(o, key, text) && fmt)
		emit(o, fmt, v);
}

void out_uint_(struct out *o, enum out_type t, const char *key, const char *fmt, unsigned long long v)
{
	char text[24];

	if (json_mode(o)) {
		if (t & PRINT_JSON)
			attach(o, key, json_integer((json_int_t)v));
		return;
	}
	snprintf(text, sizeof(text), "%llu", v);
	if ((t & PRINT_FP) && !to_cell(o, key, text) && fmt)
		emit(o, fmt, v);
}

void out_bool(struct out *o, enum out_type t, const char *key, bool v)
{
	if (json_mode(o) && (t & PRINT_JSON))
		attach(o, key, json_boolean(v));
	else if (!json_mode(o) && (t & PRINT_FP))
		to_cell(o, key, v ? "true" : "false");
}

void out_real(struct out *o, enum out_type t, const char *key, double v)
{
	if (json_mode(o) && (t & PRINT_JSON))
		attach(o, key, json_real(v));
}

void out_null(struct out *o, const char *key)
{
	if (json_mode(o))
		attach(o, key, json_null());
}

/* --- tables --- */

/* The header (titles) or the row's cells, as one line. */
static void line_print(struct out *o, bool header)
{
	bool first = true;

	for (size_t i = 0; i < o->ncols; i++) {
		const struct out_col *c = &o->cols[i];
		char buf[OUT_CELL_MAX];
		const char *text = buf;
		int w = c->width < 0 ? -c->width : c->width;

		if (header && !c->title)
			continue;
		if (header)
			text = c->title;
		else if (o->set[i])
			snprintf(buf, sizeof(buf), c->fmt ? c->fmt : "%s", o->cell[i]);
		else
			text = c->none ? c->none : c->title ? "-" : "";
		if (!header && c->shorten && w > 0 && strlen(text) > (size_t)w) {
			if (text != buf)
				snprintf(buf, sizeof(buf), "%s", text);
			buf[w - 1] = '~';
			buf[w] = '\0';
			text = buf;
		}
		if (c->title && !first)
			emit(o, " ");
		if (c->title)
			first = false;
		emit(o, c->width < 0 ? "%-*s" : "%*s", w, text);
	}
	emit(o, "\n");
}

void out_table_cols(struct out *o, const struct out_col *cols, size_t n)
{
	o->cols = cols;
	o->ncols = n < OUT_COLS ? n : OUT_COLS;
}

void out_table_open(struct out *o, const char *key, const struct out_col *cols, size_t n, unsigned flags)
{
	out_open_array(o, key);
	out_table_cols(o, cols, n);
	if (json_mode(o) || (flags & OUT_NO_HEADER))
		return;
	if (flags & OUT_HEADER_LATER)
		o->header_due = true;
	else
		line_print(o, true);
}

void out_table_close(struct out *o)
{
	out_close_array(o);
	o->cols = NULL;
	o->ncols = 0;
	o->header_due = false;
}

void out_row_open(struct out *o)
{
	if (o->header_due && !json_mode(o)) {
		o->header_due = false;
		line_print(o, true);
	}
	out_open_object(o, NULL);
	if (json_mode(o))
		return;
	o->in_row = true;
	o->row_done = false;
	memset(o->set, 0, sizeof(o->set));
}

void out_row_flush(struct out *o)
{
	if (o->in_row && !o->row_done) {
		o->row_done = true;
		line_print(o, false);
	}
}

void out_row_close(struct out *o)
{
	out_row_flush(o);
	o->in_row = false;
	out_close_object(o);
}

/* --- captures, the end --- */

/* What is still open is dropped, not printed: a description cut short by a failure. */
static void drop_open(struct out *o)
{
	for (; o->depth; o->depth--)
		if (o->depth <= OUT_DEPTH) {
			json_decref(o->stack[o->depth - 1]);
			o->stack[o->depth - 1] = NULL;
		}
	o->in_row = false;
}

int out_capture_end(struct out *o, struct out_piece *p)
{
	drop_open(o);
	p->text = o->buf;
	p->json = o->root;
	o->buf = NULL;
	o->root = NULL;
	json_decref(o->slot);
	o->slot = NULL;
	return o->err;
}

void out_put(struct out *o, struct out_piece *p)
{
	if (p->text)
		emit(o, "%s", p->text);
	if (p->json)
		attach(o, NULL, p->json);
	p->json = NULL;
	out_piece_free(p);
}

void out_piece_free(struct out_piece *p)
{
	free(p->text);
	json_decref(p->json);
	p->text = NULL;
	p->json = NULL;
}

int out_end(struct out *o)
{
	drop_open(o);
	json_decref(o->slot);
	json_decref(o->root);
	free(o->buf);
	o->slot = o->root = NULL;
	o->buf = NULL;
	return o->err;
}

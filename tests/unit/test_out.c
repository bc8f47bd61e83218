/* Unit tests of lib/out.c: the same calls give the text, the shell lines and the JSON. */
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "t.h"

/* An output into memory: out_begin, the calls, out_done gives what was written. */
struct mem {
	char *s;
	size_t n;
	FILE *f;
	struct out o;
};

static struct out *mem_begin(struct mem *m, enum out_mode mode)
{
	m->s = NULL;
	m->f = open_memstream(&m->s, &m->n);
	out_init(&m->o, m->f, mode);
	return &m->o;
}

static char *mem_done(struct mem *m, int *err)
{
	int r = out_end(&m->o);
	if (err)
		*err = r;
	fclose(m->f);
	return m->s;
}

/* A container as a command describes it: text lines, shell lines and JSON from one function. */
static void describe(struct out *o, const char *name, const char *netns, int pid, int n_fw)
{
	static const char *const fw[] = { "tcp:8080:80", "udp:53:53" };
	out_open_object(o, NULL);
	out_str(o, PRINT_ANY, "name", "NAME=%s\n", name);
	out_str(o, PRINT_ANY, "netns", "NETNS=%s\n", netns);
	if (pid)
		out_int(o, PRINT_JSON, "pid", NULL, pid);
	out_open_array(o, "forwards");
	if (n_fw)
		out_text(o, "HOST_PORT=");
	for (int i = 0; i < n_fw; i++)
		out_str(o, PRINT_ANY, NULL, i ? ",%s" : "%s", fw[i]);
	if (n_fw)
		out_text(o, "\n");
	out_close_array(o);
	out_close_object(o);
}

static void test_modes(void)
{
	struct mem m;
	int err;

	describe(mem_begin(&m, OUT_TEXT), "web", "/run/netns/my web", 12, 2);
	char *s = mem_done(&m, &err);
	T_STREQ("text: each field's format, JSON-only fields left out", s,
		"NAME=web\nNETNS=/run/netns/my web\nHOST_PORT=tcp:8080:80,udp:53:53\n");
	free(s);
	describe(mem_begin(&m, OUT_SHELL), "web", "/run/netns/my web", 12, 1);
	s = mem_done(&m, &err);
	T_STREQ("shell: a value with a space quoted", s, "NAME=web\nNETNS='/run/netns/my web'\nHOST_PORT=tcp:8080:80\n");
	free(s);
	describe(mem_begin(&m, OUT_SHELL), "web", "/run/netns/it's $x", 0, 0);
	s = mem_done(&m, &err);
	T_STREQ("shell: a ' among specials as sh reads it", s, "NAME=web\nNETNS='/run/netns/it'\\''s $x'\n");
	free(s);
	describe(mem_begin(&m, OUT_JSON), "web", "/run/netns/my web", 12, 2);
	s = mem_done(&m, &err);
	T_STREQ("JSON: keys in the order described, 2-space indent, text left out", s,
		"{\n  \"name\": \"web\",\n  \"netns\": \"/run/netns/my web\",\n  \"pid\": 12,\n"
		"  \"forwards\": [\n    \"tcp:8080:80\",\n    \"udp:53:53\"\n  ]\n}\n");
	T_OK("JSON: no error", err == 0);
	free(s);
	struct out *o = mem_begin(&m, OUT_JSON_LINES);
	describe(o, "a", "/x", 0, 0);
	describe(o, "b", "/y", 0, 1);
	s = mem_done(&m, &err);
	T_STREQ("JSON lines: one compact object a line", s,
		"{\"name\":\"a\",\"netns\":\"/x\",\"forwards\":[]}\n"
		"{\"name\":\"b\",\"netns\":\"/y\",\"forwards\":[\"tcp:8080:80\"]}\n");
	free(s);
}

static void test_values(void)
{
	struct mem m;
	struct out *o = mem_begin(&m, OUT_JSON);

	out_open_object(o, NULL);
	out_str(o, PRINT_ANY, "none", "%s", (const char *)NULL);
	out_uint(o, PRINT_ANY, "big", "%llu", 17179869184ULL);
	out_int(o, PRINT_ANY, "neg", "%lld", -5);
	out_bool(o, PRINT_ANY, "up", true);
	out_null(o, "rate");
	out_str(o, PRINT_FP, "text-only", "%s\n", "x");
	out_close_object(o);
	char *s = mem_done(&m, NULL);
	T_STREQ("JSON: null, integers, booleans; PRINT_FP left out", s,
		"{\n  \"none\": null,\n  \"big\": 17179869184,\n  \"neg\": -5,\n  \"up\": true,\n  \"rate\": null\n}\n");
	free(s);
	o = mem_begin(&m, OUT_TEXT);
	out_str(o, PRINT_ANY, "none", "[%s]", (const char *)NULL);
	out_uint(o, PRINT_ANY, "n", "%5llu|", 42);
	out_int(o, PRINT_JSON, "j", "%lld", 1);
	out_int(o, PRINT_FP, "k", "%lld\n", -7);
	s = mem_done(&m, NULL);
	T_STREQ("text: a NULL string prints nothing; widths kept", s, "   42|-7\n");
	free(s);
}

/* The JSON order of a key the text says later (doctor's counts come after its findings). */
static void test_slots(void)
{
	struct mem m;
	for (int json = 0; json < 2; json++) {
		struct out *o = mem_begin(&m, json ? OUT_JSON : OUT_TEXT);
		out_open_object(o, NULL);
		out_json_slot(o, "count");
		out_json_slot(o, "never");
		out_open_array(o, "items");
		out_str(o, PRINT_ANY, NULL, "item %s\n", "a");
		out_close_array(o);
		out_int(o, PRINT_ANY, "count", "%lld items\n", 1);
		out_close_object(o);
		char *s = mem_done(&m, NULL);
		if (json)
			T_STREQ("slot: the key keeps its place; one never set is left out", s,
				"{\n  \"count\": 1,\n  \"items\": [\n    \"a\"\n  ]\n}\n");
		else
			T_STREQ("slot: the text in the order described", s, "item a\n1 items\n");
		free(s);
	}
}

static const struct out_col cols[] = {
	{ .key = "name", .title = "NAME", .width = -8, .shorten = true },
	{ .key = "state", .title = "STATE", .width = -6 },
	{ .key = "n", .title = "N", .width = 4 },
	{ .key = "list", .title = "LIST" },
	{ .key = "why", .fmt = " (%s)" },
};

/* One row: the fields in JSON order; the table puts each in its column. */
static void row(struct out *o, const char *name, const char *state, long long n, const char *why)
{
	out_row_open(o);
	out_str(o, PRINT_ANY, "name", "NAME=%s\n", name);
	out_int(o, PRINT_JSON, "pid", NULL, 7);
	out_int(o, PRINT_ANY, "n", NULL, n);
	out_str(o, PRINT_ANY, "state", NULL, state);
	if (why)
		out_str(o, PRINT_ANY, "why", NULL, why);
	out_text(o, "not shown in a row\n");
	out_row_close(o);
}

static void test_table(void)
{
	struct mem m;
	struct out *o = mem_begin(&m, OUT_TEXT);

	out_table_open(o, NULL, cols, ARRAY_SIZE(cols), 0);
	row(o, "web", "up", 3, NULL);
	row(o, "averylongname", "broken", 12345, "link down");
	out_table_close(o);
	char *s = mem_done(&m, NULL);
	T_STREQ("table: header and cells from the columns, in column order", s,
		"NAME     STATE     N LIST\n"
		"web      up        3 -\n"
		"averylo~ broken 12345 - (link down)\n");
	free(s);
	o = mem_begin(&m, OUT_JSON);
	out_table_open(o, NULL, cols, ARRAY_SIZE(cols), 0);
	row(o, "web", "up", 3, NULL);
	out_table_close(o);
	s = mem_done(&m, NULL);
	T_STREQ("table as JSON: an array of the rows' objects, keys as described", s,
		"[\n  {\n    \"name\": \"web\",\n    \"pid\": 7,\n    \"n\": 3,\n    \"state\": \"up\"\n  }\n]\n");
	free(s);
	o = mem_begin(&m, OUT_TEXT);
	out_table_open(o, NULL, cols, ARRAY_SIZE(cols), OUT_HEADER_LATER);
	out_table_close(o);
	s = mem_done(&m, NULL);
	T_STREQ("table: a header printed later is not printed without rows", s ? s : "", "");
	free(s);
	/* A row with lines under it: out_row_flush ends the row's line. */
	o = mem_begin(&m, OUT_TEXT);
	out_table_open(o, "rows", cols, ARRAY_SIZE(cols), OUT_NO_HEADER);
	out_row_open(o);
	out_str(o, PRINT_ANY, "name", NULL, "db");
	out_str(o, PRINT_ANY, "state", NULL, "");
	out_row_flush(o);
	out_open_array(o, "sub");
	out_str(o, PRINT_ANY, NULL, "  sub %s\n", "x");
	out_close_array(o);
	out_row_close(o);
	out_table_close(o);
	s = mem_done(&m, NULL);
	T_STREQ("table: after out_row_flush the row's text prints; \"\" shows as unset", s,
		"db       -         - -\n  sub x\n");
	free(s);
}

/* Rows made apart (status' worker threads) and put in order give the same bytes. */
static void test_capture(void)
{
	for (int json = 0; json < 2; json++) {
		enum out_mode mode = json ? OUT_JSON : OUT_TEXT;
		struct out_piece p[2];
		struct out c;
		struct mem m, d;

		for (int i = 0; i < 2; i++) {
			out_capture(&c, mode);
			out_table_cols(&c, cols, ARRAY_SIZE(cols));
			row(&c, i ? "b" : "a", "up", i, NULL);
			T_OK("capture: no error", out_capture_end(&c, &p[i]) == 0);
		}
		struct out *o = mem_begin(&m, mode);
		out_table_open(o, NULL, cols, ARRAY_SIZE(cols), 0);
		out_put(o, &p[0]);
		out_put(o, &p[1]);
		out_table_close(o);
		char *put = mem_done(&m, NULL);
		o = mem_begin(&d, mode);
		out_table_open(o, NULL, cols, ARRAY_SIZE(cols), 0);
		row(o, "a", "up", 0, NULL);
		row(o, "b", "up", 1, NULL);
		out_table_close(o);
		char *direct = mem_done(&d, NULL);
		T_STREQ(json ? "capture: JSON rows put in order as if described in place"
			     : "capture: text rows put in order as if described in place",
			put, direct);
		free(put);
		free(direct);
	}
}

int main(void)
{
	test_modes();
	test_values();
	test_slots();
	test_table();
	test_capture();
	return t_done();
}

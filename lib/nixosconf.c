/* SPDX-License-Identifier: MIT */
#include "nixosconf.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool key_char(char c)
{
	return key_start(c) || (c >= '0' && c <= '9');
}

/* Bytes a shell would give a meaning to in a bare word, and which we therefore refuse. */
static bool bare_special(char c)
{
	return strchr("\"'\\$`;&|<>(){}*?[]~!", c) != NULL;
}

static int line_err(struct ctnet_err *err, const char *file, unsigned line, int code,
		    const char *what, const char *s, size_t n)
{
	char frag[CTNET_SHOW_MAX + 1], show[CTNET_SHOW_MAX];
	if (n > CTNET_SHOW_MAX)
		n = CTNET_SHOW_MAX;
	memcpy(frag, s, n);
	frag[n] = '\0';
	return ctnet_errf(err, code, "%s line %u: %s \"%s\"", file, line, what,
			  ctnet_show(frag, show));
}

/* nixos-container keys ctnet reads: their values must be literal. */
static bool known_key(const char *key)
{
	static const char *const keys[] = {
		"PRIVATE_NETWORK", "HOST_ADDRESS", "LOCAL_ADDRESS", "HOST_ADDRESS6",
		"LOCAL_ADDRESS6", "HOST_BRIDGE", "HOST_PORT", "LOCAL_MAC_ADDRESS", "INTERFACES",
		"MACVLANS", "NETWORK_NAMESPACE_PATH", "AUTO_START", "IMPAIR_DELAY", "IMPAIR_JITTER",
		"IMPAIR_LOSS", "IMPAIR_RATE", "EXTRA_VETHS",
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

#define KV_KEY_MAX 64

/* The KEY at *sp (of a line ending at eol) into key; *sp then after its '='. */
static int kv_key(const char **sp, const char *eol, const char *file, unsigned line, char *key,
		  struct ctnet_err *err)
{
	const char *s = *sp, *k = s;

	if (!key_start(*s))
		return line_err(err, file, line, EINVAL, "expected KEY=VALUE, saw", s,
				(size_t)(eol - s));
	while (s < eol && key_char(*s))
		s++;
	if (s == eol || *s != '=')
		return line_err(err, file, line, EINVAL, "expected KEY=VALUE, saw", k,
				(size_t)(eol - k));
	if ((size_t)(s - k) >= KV_KEY_MAX)
		return line_err(err, file, line, EINVAL, "key too long", k, (size_t)(s - k));
	memcpy(key, k, (size_t)(s - k));
	key[s - k] = '\0';
	s++; /* '=' */
	*sp = s;
	return 0;
}

/* The value at *sp, quoted or bare: [*vp, *vendp), *expands when a shell would expand it
 * (inside "..."); nothing may follow but a comment. k: the line's key, for messages. */
static int kv_value(const char **sp, const char *eol, const char *file, unsigned line, const char *k,
		    const char **vp, const char **vendp, bool *expands, struct ctnet_err *err)
{
	const char *s = *sp, *v = s, *vend;

	/* s may be at the end of the text, which is not NUL-terminated. */
	if (s < eol && (*s == '"' || *s == '\'')) {
		char q = *s++;
		v = s;
		while (s < eol && *s != q) {
			/* Inside "...", a shell expands these; we will not. */
			if (q == '"' && (*s == '$' || *s == '`' || *s == '\\'))
				*expands = true;
			s++;
		}
		if (s == eol)
			return line_err(err, file, line, EINVAL, "unterminated quote in",
					v - 1, (size_t)(eol - v + 1));
		vend = s++;
	} else {
		while (s < eol && !is_space(*s)) {
			if (bare_special(*s))
				return line_err(err, file, line, EINVAL,
						"shell syntax in unquoted value", v,
						(size_t)(eol - v));
			s++;
		}
		vend = s;
	}
	while (s < eol && is_space(*s))
		s++;
	/* A bare word after the value would be a command to a shell. */
	if (s < eol && !(*s == '#' && s > vend))
		return line_err(err, file, line, EINVAL, "unexpected text after value of",
				k, (size_t)(eol - k));
	*sp = s;
	*vp = v;
	*vendp = vend;
	return 0;
}

int nixosconf_parse_kv(const char *text, size_t len, const char *file, nixosconf_kv_cb cb,
		       void *data, struct ctnet_err *err)
{
	char key[KV_KEY_MAX], value[NIXOSCONF_VALUE_MAX + 1];
	const char *p = text, *end = text + len;
	unsigned line = 0;

	const char *nul = memchr(text, '\0', len);
	if (nul) {
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		return ctnet_errf(err, EINVAL, "%s line %u: contains a NUL byte", file,
				  line + 1);
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		const char *s = p, *lstart = p;
		p = eol + 1;
		while (s < eol && is_space(*s))
			s++;
		if (s == eol || *s == '#')
			continue;
		for (const char *q = s; q < eol; q++)
			if ((unsigned char)*q < 0x20 ? *q != '\t' && *q != '\r' : (unsigned char)*q >= 0x7f)
				return line_err(err, file, line, EINVAL,
						"control or non-ASCII byte in line", lstart,
						(size_t)(eol - lstart));
		const char *k = s, *v = NULL, *vend = NULL;
		bool expands = false;
		int rc;
		if ((rc = kv_key(&s, eol, file, line, key, err)) < 0 ||
		    (rc = kv_value(&s, eol, file, line, k, &v, &vend, &expands, err)) < 0)
			return rc;
		if ((size_t)(vend - v) > NIXOSCONF_VALUE_MAX)
			return line_err(err, file, line, E2BIG, "value too long for", key,
					strlen(key));
		/* A value a shell would expand is refused for the keys we read and skipped for
		 * the rest (NixOS writes e.g. EXTRA_NSPAWN_FLAGS="--bind=$x" for nspawn; ctnet's
		 * own files never hold one, and a skipped key there reads as missing). */
		if (expands) {
			if (!known_key(key))
				continue;
			return line_err(err, file, line, EINVAL, "expansion or escape in quoted value",
					v - 1, (size_t)(vend - v + 2));
		}
		memcpy(value, v, (size_t)(vend - v));
		value[vend - v] = '\0';
		int r = cb(key, value, data, err);
		if (r < 0) {
			char inner[sizeof(err->msg)];
			snprintf(inner, sizeof(inner), "%s", err->msg);
			return ctnet_errf(err, r, "%s line %u: %s", file, line, inner);
		}
	}
	return 0;
}

static int set_str(char *dst, size_t size, const char *key, const char *value,
		   struct ctnet_err *err)
{
	char show[CTNET_SHOW_MAX];
	size_t n = strlen(value);
	if (n >= size)
		return ctnet_errf(err, E2BIG, "%s \"%s\": longer than %zu bytes", key,
				  ctnet_show(value, show), size - 1);
	memcpy(dst, value, n + 1);
	return 0;
}

static int set_addr(struct ctnet_addr *dst, int family, const char *key, const char *value,
		    struct ctnet_err *err)
{
	if (!*value) { /* empty = unset, as an empty shell variable */
		memset(dst, 0, sizeof(*dst));
		return 0;
	}
	return ctnet_addr_parse(value, family, CTNET_ADDR_PREFIX_OK, key, dst, err);
}

static int conf_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct nixosconf *c = data;
	char show[CTNET_SHOW_MAX];

	if (!strcmp(key, "PRIVATE_NETWORK")) {
		if (strcmp(value, "0") && strcmp(value, "1") && *value)
			return ctnet_errf(err, EINVAL, "PRIVATE_NETWORK \"%s\": expected 0 or 1",
					  ctnet_show(value, show));
		c->has_private_network = *value != '\0';
		c->private_network = !strcmp(value, "1");
		return 0;
	}
	if (!strcmp(key, "HOST_ADDRESS"))
		return set_addr(&c->host_address, AF_INET, key, value, err);
	if (!strcmp(key, "LOCAL_ADDRESS"))
		return set_addr(&c->local_address, AF_INET, key, value, err);
	if (!strcmp(key, "HOST_ADDRESS6"))
		return set_addr(&c->host_address6, AF_INET6, key, value, err);
	if (!strcmp(key, "LOCAL_ADDRESS6"))
		return set_addr(&c->local_address6, AF_INET6, key, value, err);
	if (!strcmp(key, "HOST_BRIDGE")) {
		if (*value && ctnet_ifname_check(value, err) < 0)
			return -EINVAL;
		return set_str(c->host_bridge, sizeof(c->host_bridge), key, value, err);
	}
	if (!strcmp(key, "HOST_PORT"))
		return set_str(c->host_port, sizeof(c->host_port), key, value, err);
	if (!strcmp(key, "LOCAL_MAC_ADDRESS"))
		return set_str(c->local_mac_address, sizeof(c->local_mac_address), key, value, err);
	if (!strcmp(key, "INTERFACES"))
		return set_str(c->interfaces, sizeof(c->interfaces), key, value, err);
	if (!strcmp(key, "MACVLANS"))
		return set_str(c->macvlans, sizeof(c->macvlans), key, value, err);
	if (!strcmp(key, "IMPAIR_DELAY"))
		return set_str(c->impair_delay, sizeof(c->impair_delay), key, value, err);
	if (!strcmp(key, "IMPAIR_JITTER"))
		return set_str(c->impair_jitter, sizeof(c->impair_jitter), key, value, err);
	if (!strcmp(key, "IMPAIR_LOSS"))
		return set_str(c->impair_loss, sizeof(c->impair_loss), key, value, err);
	if (!strcmp(key, "IMPAIR_RATE"))
		return set_str(c->impair_rate, sizeof(c->impair_rate), key, value, err);
	if (!strcmp(key, "EXTRA_VETHS"))
		return set_str(c->extra_veths, sizeof(c->extra_veths), key, value, err);
	if (!strcmp(key, "NETWORK_NAMESPACE_PATH")) {
		if (*value && value[0] != '/')
			return ctnet_errf(err, EINVAL, "NETWORK_NAMESPACE_PATH \"%s\": not an absolute path",
					  ctnet_show(value, show));
		return set_str(c->network_namespace_path, sizeof(c->network_namespace_path), key,
			       value, err);
	}
	if (!strcmp(key, "AUTO_START")) {
		if (strcmp(value, "0") && strcmp(value, "1") && *value)
			return ctnet_errf(err, EINVAL, "AUTO_START \"%s\": expected 0 or 1",
					  ctnet_show(value, show));
		c->has_auto_start = *value != '\0';
		c->auto_start = !strcmp(value, "1");
		return 0;
	}
	return 0; /* unknown keys (EXTRA_NSPAWN_FLAGS, ...) are not ours */
}

int nixosconf_parse(const char *text, size_t len, const char *shown, struct nixosconf *out,
		    struct ctnet_err *err)
{
	char file[CTNET_SHOW_MAX + 16];
	memset(out, 0, sizeof(*out));
	snprintf(file, sizeof(file), "nixos conf \"%s\"", shown);
	return nixosconf_parse_kv(text, len, file, conf_cb, out, err);
}

int nixosconf_slurp_stat(int dirfd, const char *path, char **out, size_t *lenp, struct stat *st_out,
			 struct ctnet_err *err)
{
	char show[CTNET_SHOW_MAX];
	struct stat st;
	size_t len = 0;
	char *buf;
	int fd;

	ctnet_show(path, show);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "nixos conf \"%s\"", show);
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "nixos conf \"%s\"", show);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ctnet_errf(err, EINVAL, "nixos conf \"%s\": not a regular file", show);
	}
	buf = malloc(NIXOSCONF_SIZE_MAX + 2);
	if (!buf) {
		close(fd);
		return ctnet_errf(err, ENOMEM, "nixos conf \"%s\": out of memory", show);
	}
	/* Read one byte past the cap so a file that grew after fstat is still caught. */
	while (len <= NIXOSCONF_SIZE_MAX) {
		ssize_t n = read(fd, buf + len, NIXOSCONF_SIZE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return ctnet_err_sys(err, e, "nixos conf \"%s\"", show);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		/* A regular file that returns less than asked is at its end: no extra read. */
		if (len <= NIXOSCONF_SIZE_MAX && len >= (size_t)st.st_size)
			break;
	}
	close(fd);
	if (st_out)
		*st_out = st;
	if (len > NIXOSCONF_SIZE_MAX) {
		free(buf);
		return ctnet_errf(err, EFBIG, "nixos conf \"%s\": larger than %d bytes", show,
				  NIXOSCONF_SIZE_MAX);
	}
	buf[len] = '\0';
	*out = buf;
	*lenp = len;
	return 0;
}

int nixosconf_slurp(int dirfd, const char *path, char **out, size_t *lenp, struct ctnet_err *err)
{
	return nixosconf_slurp_stat(dirfd, path, out, lenp, NULL, err);
}

int nixosconf_read(int dirfd, const char *path, struct nixosconf *out, struct ctnet_err *err)
{
	char show[CTNET_SHOW_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = nixosconf_slurp(dirfd, path, &buf, &len, err);
	if (r < 0)
		return r;
	return nixosconf_parse(buf, len, ctnet_show(path, show), out, err);
}

/* --- the writer --- */

static bool bare_ok(const char *v)
{
	for (; *v; v++)
		if (is_space(*v) || bare_special(*v) || *v == '#')
			return false;
	return true;
}

int ctnet_kv_put(struct ctnet_kv_out *o, const char *key, const char *value)
{
	char show[CTNET_SHOW_MAX];
	size_t vlen = strlen(value);
	bool bare;
	int n;

	if (o->error)
		return o->error;
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			goto bad;
	if (vlen > NIXOSCONF_VALUE_MAX)
		goto bad;
	bare = bare_ok(value);
	if (!bare && strchr(value, '\''))
		goto bad;
	n = snprintf(o->p + o->len, o->cap - o->len, bare ? "%s=%s\n" : "%s='%s'\n", key, value);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->error = ctnet_errf(o->err, EOVERFLOW, "%s: larger than %zu bytes", o->what, o->cap);
		return o->error;
	}
	o->len += (size_t)n;
	return 0;
bad:
	o->error = ctnet_errf(o->err, EINVAL, "%s: %s value \"%s\" cannot be stored safely", o->what,
			      key, ctnet_show(value, show));
	return o->error;
}

int ctnet_kv_putf(struct ctnet_kv_out *o, const char *key, const char *fmt, ...)
{
	char v[NIXOSCONF_VALUE_MAX + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(v)) {
		if (!o->error)
			o->error = ctnet_errf(o->err, EINVAL, "%s: %s value too long", o->what, key);
		return o->error;
	}
	return ctnet_kv_put(o, key, v);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capture what the library writes to stderr during a few calls, to check
 * its messages: stderr goes to a temporary file until capture_end().
 */
#ifndef KPF_STDERR_CAPTURE_H
#define KPF_STDERR_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct capture {
	int saved_fd;
	FILE *file;
	char text[2048];
};

static inline void capture_begin(struct capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	if (!c->file)
		abort();
	c->saved_fd = dup(STDERR_FILENO);
	dup2(fileno(c->file), STDERR_FILENO);
}

/* Restore stderr; return what was written (NUL-terminated). */
static inline const char *capture_end(struct capture *c)
{
	size_t n;

	fflush(stderr);
	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	rewind(c->file);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->file);
	c->text[n] = '\0';
	fclose(c->file);
	return c->text;
}

#endif /* KPF_STDERR_CAPTURE_H */

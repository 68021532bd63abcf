/* SPDX-License-Identifier: GPL-2.0 */
/* TAP output shared by the harness programs. */
#ifndef IOVA_TAP_H
#define IOVA_TAP_H

#include <stdbool.h>

extern int tap_passed, tap_failed, tap_skipped;
extern bool tap_verbose;

void tap_result(bool ok, const char *name, const char *why);
void tap_skip(const char *name, const char *why);
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "# N passed, N failed" and the plan; returns the exit status. */
int tap_finish(void);

#endif /* IOVA_TAP_H */

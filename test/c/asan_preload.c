/*
 * asan_preload.c: preloaded after the ASan runtime by `make sanitize` (see test/sh/cluster.sh).
 *
 * Under LD_PRELOAD the ASan runtime is initialised by the first malloc, and libgpg-error's
 * constructor makes that first malloc inside bindtextdomain() while glibc holds _nl_state_lock;
 * ASan's initialisation then calls dlerror(), which takes the same lock, and the server hangs
 * before main().  This wrapper allocates once before handing over to glibc's bindtextdomain.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
char *bindtextdomain(const char *domain, const char *dir)
{
	static char *(*real) (const char *, const char *);
	void	   *volatile p = malloc(1);

	free(p);
	if (real == NULL)
		real = (char *(*) (const char *, const char *)) dlsym(RTLD_NEXT, "bindtextdomain");
	return real(domain, dir);
}

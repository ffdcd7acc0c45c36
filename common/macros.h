/* Small language helpers shared by every brasa module: cleanup attributes
 * for scoped ownership, array sizes and branch hints.
 *
 *   _cleanup_free_       free() the pointer when it leaves scope
 *   _cleanup_close_      close() the fd (if >= 0) when it leaves scope
 *   _cleanup_fclose_     fclose() the FILE (if non-NULL)
 *   DEFINE_CLEANUP(type, fn)   declares cleanup_<fn> for a NULL-safe fn
 *   TAKE_PTR(p) / TAKE_FD(fd)  hand ownership out of a cleanup variable
 *   PARTITION_POINT(n, i, pred)  binary search: the first index in [0, n)
 *                              where pred (an expression of the size_t i)
 *                              is false, n if none; pred must hold for a
 *                              prefix of the range and not after it
 */
#ifndef BRASA_COMMON_MACROS_H
#define BRASA_COMMON_MACROS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		/* close() may clobber errno; callers read errno after cleanup */
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		fclose(*f);
		errno = saved;
	}
}

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)

/* For NULL-safe destructors `void fn(type *)`: declares cleanup_<fn>. */
#define DEFINE_CLEANUP(type, fn)                                              \
	static inline void cleanup_##fn(type **p)                             \
	{                                                                     \
		fn(*p);                                                       \
	}

#define TAKE_PTR(p)                                                           \
	({                                                                    \
		__typeof__(p) _p = (p);                                       \
		(p) = NULL;                                                   \
		_p;                                                           \
	})

#define TAKE_FD(fd)                                                           \
	({                                                                    \
		int _fd = (fd);                                               \
		(fd) = -1;                                                    \
		_fd;                                                          \
	})

#define PARTITION_POINT(n, i, pred)                                           \
	({                                                                    \
		size_t _pp_lo = 0, _pp_hi = (n);                              \
		while (_pp_lo < _pp_hi) {                                     \
			size_t i = _pp_lo + (_pp_hi - _pp_lo) / 2;            \
			if (pred)                                             \
				_pp_lo = i + 1;                               \
			else                                                  \
				_pp_hi = i;                                   \
		}                                                             \
		_pp_lo;                                                       \
	})

#endif

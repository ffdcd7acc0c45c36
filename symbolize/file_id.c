#include "symbolize/file_id.h"

#include "common/macros.h"

void file_id__from_stat(const struct stat *st, struct file_id *id)
{
	*id = (struct file_id){
		.dev = st->st_dev, .ino = st->st_ino, .size = (uint64_t)st->st_size,
		.mtime_sec = st->st_mtim.tv_sec, .mtime_nsec = st->st_mtim.tv_nsec,
		.ctime_sec = st->st_ctim.tv_sec, .ctime_nsec = st->st_ctim.tv_nsec,
	};
}

bool file_id__equal(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	       a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

uint64_t file_id__hash(const struct file_id *id)
{
	const uint64_t v[] = { id->dev, id->ino, id->size, (uint64_t)id->mtime_sec,
			       (uint64_t)id->mtime_nsec, (uint64_t)id->ctime_sec,
			       (uint64_t)id->ctime_nsec };
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		h = (h ^ v[i]) * 0x100000001b3ull ^ (h >> 29);
	return h;
}

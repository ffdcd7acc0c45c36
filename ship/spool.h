/* spool: a bounded on-disk queue of opaque records (the encoded batches an
 * upload could not send), kept until they are sent and surviving an agent
 * restart, a SIGKILL or a power loss.
 *
 * One directory, one file per record, named by a 64-bit sequence number
 * ("%016" PRIx64 ".rec"). Each file is a 36-byte header and one zstd frame;
 * all header integers are little-endian:
 *
 *   0  magic "BRSP"           16  compressed length (u64)
 *   4  version 1 (u16)        24  crc32c of the uncompressed bytes (u32)
 *   6  header size 36 (u16)   28  crc32c of the compressed bytes (u32)
 *   8  uncompressed len (u64) 32  crc32c of bytes 0..31 (u32)
 *
 * crc32c (Castagnoli) rather than xxh64: it is the checksum storage uses
 * (ext4, btrfs, iSCSI) because it catches every burst of up to 32 bits and
 * every odd number of flipped bits, which is what disks and truncated writes
 * produce; 32 bits are plenty next to zstd's own frame checks, and it is a
 * few lines here where xxh64 would need a library brasa does not link.
 *
 * A record is written to "<name>.tmp", fsynced, renamed into place and the
 * directory fsynced, so a crash leaves either the whole record or a
 * temporary file that the next spool__open removes. Removals are not
 * fsynced: after a power loss a removed record may come back (sent twice).
 *
 *   spool__open(opts, &s)        0, -EINVAL (NULL dir, max_bytes 0),
 *                                -EBUSY (another spool has the directory open),
 *                                -errno from mkdir/open/readdir
 *   spool__free(s)               NULL-safe; records stay on disk
 *   spool__put(s, data, len, &seq)   0 or -errno (below)
 *   spool__oldest(s, &seq)       0 or -ENOENT when empty
 *   spool__next(s, after, &seq)  oldest with seq > after; 0 or -ENOENT
 *   spool__get(s, seq, out)      0, -ENOENT, -EBADMSG, -EFBIG, -errno
 *   spool__remove(s, seq)        0 or -ENOENT
 *   spool__stats(s, &st)         counters (zeros for NULL s)
 *   spool__probe(s)              0 if a record file can be written now, else
 *                                -errno (-EACCES, -EROFS, -ENOSPC, -ENOENT...)
 *   spool__check_dir(dir, why, len)  what would stop spool__open and
 *                                spool__put in dir, without creating or
 *                                writing anything: 0 or -errno with why
 *
 * Sequence numbers start at 1 in an empty spool (so spool__next(s, 0, ...)
 * is the oldest) and continue after the highest one on disk.
 *
 * The bound counts the length of record files (st_size, not the filesystem's
 * rounding to blocks) plus the one being written; temporary files of a crash
 * and files that are not records are not counted. A spool found over
 * max_bytes at open (the bound was lowered) drops its oldest records then.
 *
 * Thread-safe: one mutex; compression and decompression run outside it, file
 * writes and fsyncs inside it (spool__stats may wait for a put's fsync).
 * Memory: the index holds (seq, size) per record; records are at most
 * SPOOL_MAX_RECORD bytes uncompressed.
 */
#ifndef BRASA_SHIP_SPOOL_H
#define BRASA_SHIP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define SPOOL_MAX_RECORD (64u << 20)

struct spool;

struct spool_opts {
	const char *dir;        /* created (mode 0700, parents too) if missing */
	uint64_t max_bytes;     /* bound on the files' total size on disk */
};

struct spool_stats {
	uint64_t records, bytes;         /* now */
	uint64_t written, removed;       /* since open (removed: spool__remove) */
	uint64_t dropped, dropped_bytes; /* oldest records dropped to make room */
	uint64_t corrupt;                /* records that failed their checksum or
	                                    decompression (or had a bad header),
	                                    each counted once */
};

/* Opens (or creates) the spool and indexes the records already there
 * (names and sizes only: bodies are not read), removes temporary files left
 * by a crash mid-write. Other files in the directory are ignored, not
 * deleted. The directory is locked (flock) against a second spool, in this
 * process or another, until spool__free. *out is owned by the caller. */
int spool__open(const struct spool_opts *o, struct spool **out);

/* NULL-safe; records stay on disk. No call may be running on s. */
void spool__free(struct spool *s);

/* Stores a copy of data[0..len) (opaque; len 0 is a valid record) and
 * returns its sequence number in *seq. If the spool would exceed max_bytes,
 * the oldest records are deleted first (counted in dropped, logged at warn).
 * Returns 0, or:
 *   -EINVAL     NULL s or seq, or NULL data with len > 0
 *   -EFBIG      len > SPOOL_MAX_RECORD, or the record file alone would be
 *               larger than max_bytes (nothing is dropped then)
 *   -EOVERFLOW  sequence numbers exhausted
 *   -ENOMEM, or -errno from the file system (-ENOSPC, -EIO, -EACCES...),
 *               with no partial record left behind; records dropped to make
 *               room before the failure stay dropped.
 * Failures are not logged here: the caller decides what they mean. */
int spool__put(struct spool *s, const void *data, size_t len, uint64_t *seq);

/* Oldest record's sequence number: 0, or -ENOENT when empty. */
int spool__oldest(struct spool *s, uint64_t *seq);

/* The oldest record with a sequence number > after (walks the spool):
 * 0, or -ENOENT when there is none. */
int spool__next(struct spool *s, uint64_t after, uint64_t *seq);

/* Reads, verifies and decompresses record seq into out (cleared first,
 * then appended; left empty on error). Returns 0, or:
 *   -ENOENT   no such record (never written, removed, dropped)
 *   -EBADMSG  bad header, truncated file, checksum or decompression failure:
 *             counted in corrupt and logged once per record with the file
 *             name; the caller should spool__remove it
 *   -EFBIG    a valid header claims more than SPOOL_MAX_RECORD bytes (not
 *             written by this version); the caller should remove it too
 *   -ENOMEM, -errno from open/read. */
int spool__get(struct spool *s, uint64_t seq, struct buf *out);

/* Deletes record seq: 0 (also if its file had already vanished), -ENOENT
 * when it is not in the spool, -errno from unlink (record kept). */
int spool__remove(struct spool *s, uint64_t seq);

/* A consistent snapshot of the counters; zeros for NULL s. */
void spool__stats(struct spool *s, struct spool_stats *st);

/* Writes a few bytes to the next record's temporary file and removes it,
 * so a directory opened fine but unwritable (permissions, a read-only or
 * full file system, a directory removed behind the spool's back) is found
 * before a record is at stake. Returns 0 or -errno; leaves nothing behind.
 * A full disk may still fail a larger put later. */
int spool__probe(struct spool *s);

/* For `brasa check`: whether dir (or, when it does not exist, the nearest
 * existing parent it would be created in) is a directory this process may
 * write to (effective IDs and capabilities), on a writable file system with
 * free space, and not locked by another spool. Creates and writes nothing.
 * Returns 0, or -errno with why[] saying what is wrong in words
 * ("'/x' is not a directory"); -EINVAL for a NULL or empty dir. */
int spool__check_dir(const char *dir, char *why, size_t len);

#endif

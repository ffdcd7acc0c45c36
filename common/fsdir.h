/* fsdir: directories made to hold data that must survive a crash (the
 * upload spool, the local history).
 *
 *   fsdir__mkdir_parents(dir)  mkdir -p with mode 0700 (existing
 *                              directories keep theirs); each directory
 *                              it creates is fsynced into its parent, so
 *                              what is later fsynced into it cannot vanish
 *                              with it on power loss: 0 or -errno (EACCES,
 *                              EROFS, ENOTDIR...)
 *   fsdir__fsync(path)         fsync of a directory: 0 or -errno
 */
#ifndef BRASA_COMMON_FSDIR_H
#define BRASA_COMMON_FSDIR_H

int fsdir__mkdir_parents(const char *dir);
int fsdir__fsync(const char *path);

#endif

/*
 * fs_create: how fast one directory takes new files, the ways an email can be written.
 * The measurements behind docs/adr/0007-email-files-whole-or-absent.md.
 *
 *   cc -O2 -pthread -o /tmp/fs_create bench/fs_create.c
 *   /tmp/fs_create DIR WAY COUNT [THREADS]
 *
 * WAY:
 *   lab      open(O_CREAT|O_TRUNC), write, close: the lab's consumer (not whole-or-absent)
 *   linked   coolriel's path for a new file: a lookup of the name (absent), then
 *            open(dir, O_TMPFILE), write, linkat through /proc/self/fd, close
 *   renamed  a named temporary file, write, fchmod 0644, rename over the name, close:
 *            coolriel's path before 2026-12-04 (which wrote two such files per email)
 *
 * DIR is created if missing and must be new (the files are named welcome_<n>.html).
 * Prints the files per second, the time once a syncfs has made them durable, and the
 * process's CPU time (user + system) per file. Nothing is deleted: on ext4 without a
 * journal, creating files right after deleting many is much slower (the ADR says why),
 * so measure in fresh directories, and delete them all at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum way { LAB, LINKED, RENAMED };

static char body[2500]; /* about the size of a rendered welcome email */
static const char *dir;
static enum way way;
static int count;
static int threads;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

static void write_all(int fd) {
    if (write(fd, body, sizeof body) != (ssize_t)sizeof body) fail("write");
}

static void create_one(int i, int thread) {
    char path[512], temp[512], proc[64];
    int fd;
    snprintf(path, sizeof path, "%s/welcome_%d.html", dir, i);
    switch (way) {
    case LAB:
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) fail("open");
        write_all(fd);
        close(fd);
        break;
    case LINKED:
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) fail("the file exists already: use a new directory");
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) fail("open O_TMPFILE");
        write_all(fd);
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW)) fail("linkat");
        close(fd);
        break;
    case RENAMED:
        snprintf(temp, sizeof temp, "%s/.coolriel-%d-%d.tmp", dir, thread, i);
        fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) fail("open temporary file");
        write_all(fd);
        if (fchmod(fd, 0644)) fail("fchmod");
        if (rename(temp, path)) fail("rename");
        close(fd);
        break;
    }
}

static void *run(void *arg) {
    int thread = (int)(long)arg;
    for (int i = thread; i < count; i += threads) create_one(i, thread);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DIR lab|linked|renamed COUNT [THREADS]\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    if (!strcmp(argv[2], "lab")) way = LAB;
    else if (!strcmp(argv[2], "linked")) way = LINKED;
    else if (!strcmp(argv[2], "renamed")) way = RENAMED;
    else { fprintf(stderr, "unknown way %s\n", argv[2]); return 2; }
    count = atoi(argv[3]);
    threads = argc > 4 ? atoi(argv[4]) : 1;
    if (count < 1 || threads < 1 || threads > 64) { fprintf(stderr, "bad count or threads\n"); return 2; }
    memset(body, 'x', sizeof body);
    if (mkdir(dir, 0755) && errno != EEXIST) fail("mkdir");

    double started = now();
    pthread_t pool[64];
    for (int t = 0; t < threads; t++) pthread_create(&pool[t], NULL, run, (void *)(long)t);
    for (int t = 0; t < threads; t++) pthread_join(pool[t], NULL);
    double created = now() - started;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd < 0 || syncfs(dirfd)) fail("syncfs");
    double durable = now() - started;

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
    printf("%s, %d thread(s): %d files in %.3f s (%.0f/s); durable after %.3f s; CPU %.1f us/file\n",
           argv[2], threads, count, created, count / created, durable, cpu * 1e6 / count);
    return 0;
}

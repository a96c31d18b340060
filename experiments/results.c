#define _POSIX_C_SOURCE 200809L
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <omp.h>

#include "check.h"

const char *header_string(const cJSON *header, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(header, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- reading ---- */

/* The byte length of buf's complete lines: everything up to and including its last newline. */
static size_t complete_prefix(const char *buf, size_t len) {
    while (len > 0 && buf[len - 1] != '\n') len--;
    return len;
}

/* A results file's text. Large committed results are kept xz-compressed (FILE.jsonl.xz); they are
 * read through `xz -dc`, so plot, merge and --summary-only take them as they are. */
static char *read_results_text(const char *path, size_t *len) {
    size_t n = strlen(path);
    if (n < 3 || strcmp(path + n - 3, ".xz")) return read_file_all(path, len);
    if (strchr(path, '\'')) fatal("%s: a compressed results path must not contain a quote", path);
    struct stat st;
    if (stat(path, &st) != 0) fatal("%s: cannot open (%s)", path, strerror(errno));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "xz -dc -- '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) fatal("%s: cannot run xz to decompress it (%s)", path, strerror(errno));
    size_t cap = 1 << 20, used = 0;
    char *buf = mallocCheck(cap);
    for (size_t got; (got = fread(buf + used, 1, cap - used - 1, f)) > 0;) {
        used += got;
        if (used + 1 == cap) buf = reallocCheck(buf, cap *= 2);
    }
    if (pclose(f) != 0) fatal("%s: xz could not decompress it (is xz-utils installed?)", path);
    buf[used] = '\0';
    *len = used;
    return buf;
}

/* Parses buf, whole lines only, into rf: a header record, then run records with a run_id. */
static void parse_records(ResultsFile *rf, char *buf, const char *path) {
    memset(rf, 0, sizeof *rf);
    int cap = 0, line_no = 0;
    char *p = buf;
    while (*p) {
        char *eol = strchr(p, '\n');
        *eol = '\0';
        line_no++;
        cJSON *rec = cJSON_Parse(p);
        if (!cJSON_IsObject(rec)) fatal("%s:%d: not a JSON object; the results file is damaged", path, line_no);
        const char *type = header_string(rec, "type");
        if (line_no == 1) {
            if (strcmp(type, "header") != 0 || strcmp(header_string(rec, "format"), RESULTS_FORMAT) != 0)
                fatal("%s: the first line is not a %s header record", path, RESULTS_FORMAT);
            rf->header = rec;
        } else {
            if (strcmp(type, "run") != 0 || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "run_id")))
                fatal("%s:%d: not a run record (\"type\": \"run\" with a \"run_id\")", path, line_no);
            if (rf->n_runs == cap) {
                cap = cap ? 2 * cap : 256;
                rf->runs = reallocCheck(rf->runs, (size_t)cap * sizeof(cJSON *));
            }
            rf->runs[rf->n_runs++] = rec;
        }
        p = eol + 1;
    }
    if (!rf->header) fatal("%s: empty results file (no header record)", path);
}

void results_read(ResultsFile *rf, const char *path) {
    size_t len;
    char *buf = read_results_text(path, &len);
    size_t good = complete_prefix(buf, len);
    if (good < len) fprintf(stderr, "specdec: warning: %s: ignoring an incomplete last line (an interrupted run; "
                                    "`specdec run --resume` repairs the file)\n", path);
    buf[good] = '\0';
    parse_records(rf, buf, path);
    free(buf);
}

void results_file_free(ResultsFile *rf) {
    cJSON_Delete(rf->header);
    for (int i = 0; i < rf->n_runs; i++) cJSON_Delete(rf->runs[i]);
    free(rf->runs);
    memset(rf, 0, sizeof *rf);
}

/* ---- writing ---- */

static void write_all(int fd, const char *data, size_t n, const char *path) {
    while (n > 0) {
        ssize_t put = write(fd, data, n);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) fatal("%s: write failed (%s)", path, strerror(errno));
        data += put;
        n -= (size_t)put;
    }
}

static void sync_fd(int fd, const char *path) {
    if (fsync(fd) != 0) fatal("%s: fsync failed (%s)", path, strerror(errno));
}

/* The file's directory entry must be durable too, or a crash could lose the whole file. */
static void sync_parent_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

void results_append(ResultsWriter *w, const cJSON *record) {
    char *text = cJSON_PrintUnformatted(record);
    CHECK(text, "cJSON_PrintUnformatted failed");
    size_t n = strlen(text);
    char *line = mallocCheck(n + 2);
    memcpy(line, text, n);
    line[n] = '\n';
    write_all(w->fd, line, n + 1, w->path);
    sync_fd(w->fd, w->path);
    free(line);
    cJSON_free(text);
}

static void open_append(ResultsWriter *w, const char *path, int flags) {
    snprintf(w->path, sizeof w->path, "%s", path);
    w->fd = open(path, O_WRONLY | O_APPEND | flags, 0644);
    if (w->fd < 0) {
        if (errno == EEXIST)
            fatal("%s exists; pass --resume to continue it, or choose another --out", path);
        fatal("%s: cannot open for writing (%s)", path, strerror(errno));
    }
    /* Two processes appending to one file would interleave and duplicate runs. The lock goes away
     * with the process, however it ends. */
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(w->fd, F_SETLK, &lock) != 0)
        fatal("%s is being written by another process (a running `specdec run`?)", path);
}

void results_create(ResultsWriter *w, const char *path, const cJSON *header) {
    open_append(w, path, O_CREAT | O_EXCL);
    results_append(w, header);
    sync_parent_dir(path);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A header field that must not change when a file is continued. */
static void require_same(const cJSON *old, const cJSON *now, const char *key, const char *path, const char *why) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(old, key), *b = cJSON_GetObjectItemCaseSensitive(now, key);
    if (a && b && cJSON_Compare(a, b, 1)) return;
    char *sa = a ? cJSON_PrintUnformatted(a) : NULL, *sb = b ? cJSON_PrintUnformatted(b) : NULL;
    fatal("%s: its %s %s differs from this run's %s (%s); use another --out", path, key,
          sa ? sa : "(missing)", sb ? sb : "(missing)", why);
}

char **results_resume(ResultsWriter *w, const char *path, const cJSON *header, int *n_done) {
    *n_done = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        results_create(w, path, header);
        return NULL;
    }
    open_append(w, path, 0);   /* takes the lock before anything is read or cut */
    size_t len;
    char *buf = read_file_all(path, &len);
    size_t good = complete_prefix(buf, len);
    if (good < len) {
        fprintf(stderr, "specdec: %s: dropping an incomplete last line (%zu bytes) left by an interrupted run\n",
                path, len - good);
        if (ftruncate(w->fd, (off_t)good) != 0) fatal("%s: cannot truncate (%s)", path, strerror(errno));
        sync_fd(w->fd, path);
    }
    buf[good] = '\0';
    if (good == 0) {   /* killed before the header was whole: start over */
        free(buf);
        results_append(w, header);
        return NULL;
    }
    ResultsFile rf;
    parse_records(&rf, buf, path);
    free(buf);
    require_same(rf.header, header, "config_hash", path, "the config changed");
    require_same(rf.header, header, "device", path, "timings from two devices would mix");
    require_same(rf.header, header, "shard", path, "another part of the grid");
    require_same(rf.header, header, "models", path, "the model files changed");
    if (strcmp(header_string(rf.header, "git_commit"), header_string(header, "git_commit")) != 0)
        fprintf(stderr, "specdec: warning: %s was started at commit %s; continuing at %s\n", path,
                header_string(rf.header, "git_commit"), header_string(header, "git_commit"));
    *n_done = rf.n_runs;
    char **ids = rf.n_runs ? mallocCheck((size_t)rf.n_runs * sizeof(char *)) : NULL;
    for (int i = 0; i < rf.n_runs; i++)
        ids[i] = strdupCheck(cJSON_GetObjectItemCaseSensitive(rf.runs[i], "run_id")->valuestring);
    results_file_free(&rf);
    if (*n_done > 1) qsort(ids, (size_t)*n_done, sizeof(char *), str_cmp);
    return ids;
}

void results_close(ResultsWriter *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}

/* ---- provenance ---- */

/* First line of a command's output, "" when it fails. */
static void command_line_output(const char *cmd, char *out, size_t out_size) {
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (!f) return;
    if (!fgets(out, (int)out_size, f)) out[0] = '\0';
    while (fgetc(f) != EOF) {}
    if (pclose(f) != 0) out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
}

void git_commit_of(const char *source_dir, char *out, size_t out_size, int *dirty) {
    char cmd[4600], line[256];
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse HEAD 2>/dev/null", source_dir);
    command_line_output(cmd, line, sizeof line);
    snprintf(out, out_size, "%s", line[0] ? line : "unknown");
    *dirty = 0;
    if (!line[0]) return;
    /* Uncommitted changes to tracked files mean the commit alone does not reproduce the binary. */
    snprintf(cmd, sizeof cmd, "git -C '%s' status --porcelain --untracked-files=no 2>/dev/null | head -c 1",
             source_dir);
    command_line_output(cmd, line, sizeof line);
    *dirty = line[0] != '\0';
}

cJSON *machine_json(void) {
    cJSON *m = cJSON_CreateObject();
    struct utsname u;
    char buf[1024];
    if (uname(&u) == 0) {
        snprintf(buf, sizeof buf, "%s %s %s %s", u.sysname, u.nodename, u.release, u.machine);
        cJSON_AddStringToObject(m, "uname", buf);
    } else {
        cJSON_AddStringToObject(m, "uname", "unknown");
    }
    const char *cpu = "unknown";
    char line[1024];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        cpu = colon + 1;
        while (*cpu == ' ' || *cpu == '\t') cpu++;
        line[strcspn(line, "\n")] = '\0';
        break;
    }
    cJSON_AddStringToObject(m, "cpu", cpu);
    if (f) fclose(f);
    cJSON_AddNumberToObject(m, "cpus_online", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(m, "omp_threads", omp_get_max_threads());
    return m;
}

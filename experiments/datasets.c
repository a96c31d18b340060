#define _POSIX_C_SOURCE 200809L
#include "datasets.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "check.h"

typedef struct {
    const char *format, *field, *id_field, *category_field;
} KnownFormat;

static const KnownFormat KNOWN_FORMATS[] = {
    {"humaneval", "prompt", "task_id", ""},
    {"spec_bench", "turns", "question_id", "category"},
    {"mt_bench", "turns", "question_id", "category"},
    {"gsm8k", "question", "", ""},
    {"jsonl", NULL, NULL, NULL},
    {"text", "", "", ""},
};
#define N_KNOWN_FORMATS (int)(sizeof KNOWN_FORMATS / sizeof KNOWN_FORMATS[0])

void dataset_spec_apply_format(DatasetSpec *d, const char *where) {
    for (int i = 0; i < N_KNOWN_FORMATS; i++) {
        const KnownFormat *k = &KNOWN_FORMATS[i];
        if (strcmp(d->format, k->format) != 0) continue;
        if (!k->field) {   /* jsonl: the config names the fields */
            if (!d->field[0]) fatal("%s: format \"jsonl\" needs \"field\", the key holding the prompt", where);
            return;
        }
        if (d->field[0] || d->id_field[0] || d->category_field[0])
            fatal("%s: format \"%s\" has fixed fields; \"field\", \"id_field\" and \"category_field\" "
                  "are for format \"jsonl\"", where, d->format);
        snprintf(d->field, sizeof d->field, "%s", k->field);
        snprintf(d->id_field, sizeof d->id_field, "%s", k->id_field);
        snprintf(d->category_field, sizeof d->category_field, "%s", k->category_field);
        return;
    }
    fatal("%s: unknown format \"%s\" (allowed: humaneval, spec_bench, mt_bench, gsm8k, jsonl, text)",
          where, d->format);
}

void resolve_data_path(const char *name, char *out, size_t out_size) {
    struct stat st;
    if (stat(name, &st) == 0) {
        snprintf(out, out_size, "%s", name);
        return;
    }
    const char *dirs[2] = {getenv("SPECDEC_DATA"), SPECDEC_SOURCE_DIR "/../shared/data"};
    char tried[8192];
    int used = snprintf(tried, sizeof tried, "%s", name);
    for (int i = 0; i < 2; i++) {
        if (!dirs[i] || !dirs[i][0] || name[0] == '/') continue;
        snprintf(out, out_size, "%s/%s", dirs[i], name);
        if (stat(out, &st) == 0) return;
        if (used < (int)sizeof tried) used += snprintf(tried + used, sizeof tried - used, ", %s", out);
    }
    fatal("dataset %s not found (looked at: %s; set $SPECDEC_DATA to the data folder)", name, tried);
}

/* The first n whitespace-separated words of s, with the spacing between them kept. */
static char *first_words(const char *s, int n) {
    const char *p = s;
    while (*p && isspace((unsigned char)*p)) p++;
    const char *start = p;
    for (int w = 0; w < n && *p; w++) {
        while (*p && !isspace((unsigned char)*p)) p++;
        if (w + 1 < n)
            while (*p && isspace((unsigned char)*p)) p++;
    }
    size_t len = (size_t)(p - start);
    char *out = mallocCheck(len + 1);
    memcpy(out, start, len);
    out[len] = '\0';
    return out;
}

static void push_prompt(PromptSet *ps, int *cap, char *id, char *category, char *text) {
    if (ps->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        ps->prompts = reallocCheck(ps->prompts, (size_t)*cap * sizeof(Prompt));
    }
    ps->prompts[ps->n++] = (Prompt){id, category, text};
}

/* Blocks of non-blank lines, trimmed of surrounding whitespace. */
static void read_text_blocks(PromptSet *ps, int *cap, char *buf) {
    int n_blocks = 0;
    char *p = buf;
    while (*p) {
        /* skip blank lines */
        for (;;) {
            char *q = p;
            while (*q == ' ' || *q == '\t' || *q == '\r') q++;
            if (*q == '\n') p = q + 1;
            else if (*q == '\0') { p = q; break; }
            else break;
        }
        if (!*p) break;
        char *start = p, *end = p;
        for (;;) {   /* to the end of the block: a line that is blank, or the end of the text */
            char *eol = strchr(p, '\n');
            char *line_end = eol ? eol : p + strlen(p);
            char *q = p;
            while (q < line_end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
            if (q == line_end) break;
            end = line_end;
            p = eol ? eol + 1 : line_end;
            if (!eol) break;
        }
        while (end > start && isspace((unsigned char)end[-1])) end--;
        while (start < end && isspace((unsigned char)*start)) start++;
        char *text = mallocCheck((size_t)(end - start) + 1);
        memcpy(text, start, (size_t)(end - start));
        text[end - start] = '\0';
        char id[32];
        snprintf(id, sizeof id, "#%d", n_blocks++);
        push_prompt(ps, cap, strdupCheck(id), strdupCheck(""), text);
    }
}

/* An id value as text: strings as they are, integral numbers without a fraction. */
static char *id_text(const cJSON *v, const char *path, int line, const char *key) {
    char buf[64];
    if (cJSON_IsString(v)) return strdupCheck(v->valuestring);
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == floor(x) && fabs(x) < 1e15) snprintf(buf, sizeof buf, "%.0f", x);
        else snprintf(buf, sizeof buf, "%.17g", x);
        return strdupCheck(buf);
    }
    fatal("%s:%d: \"%s\" must be a string or a number", path, line, key);
}

static void read_jsonl(PromptSet *ps, int *cap, char *buf, const DatasetSpec *d) {
    int line_no = 0, n_records = 0;
    char *p = buf;
    while (*p) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = '\0';
        line_no++;
        char *line = p;
        p = eol ? eol + 1 : p + strlen(p);
        while (*line && isspace((unsigned char)*line)) line++;
        if (!*line) continue;
        cJSON *rec = cJSON_Parse(line);
        if (!rec) fatal("%s:%d: not valid JSON", d->path, line_no);
        if (!cJSON_IsObject(rec)) fatal("%s:%d: a record must be a JSON object", d->path, line_no);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, d->field);
        if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
        if (!cJSON_IsString(v))
            fatal("%s:%d: \"%s\" must be a string or an array whose first element is a string",
                  d->path, line_no, d->field);
        char *text = strdupCheck(v->valuestring);
        char *id;
        if (d->id_field[0]) {
            const cJSON *idv = cJSON_GetObjectItemCaseSensitive(rec, d->id_field);
            if (!idv) fatal("%s:%d: missing id field \"%s\"", d->path, line_no, d->id_field);
            id = id_text(idv, d->path, line_no, d->id_field);
        } else {
            char buf2[32];
            snprintf(buf2, sizeof buf2, "#%d", n_records);
            id = strdupCheck(buf2);
        }
        char *category = strdupCheck("");
        if (d->category_field[0]) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(rec, d->category_field);
            if (!cJSON_IsString(c))
                fatal("%s:%d: \"%s\" must be a string", d->path, line_no, d->category_field);
            free(category);
            category = strdupCheck(c->valuestring);
        }
        n_records++;
        push_prompt(ps, cap, id, category, text);
        cJSON_Delete(rec);
    }
}

static void prompt_free(Prompt *p) {
    free(p->id);
    free(p->category);
    free(p->text);
}

void dataset_load(PromptSet *ps, const DatasetSpec *d, int n_prompts, const char *where) {
    size_t len;
    char *buf = read_file_all(d->path, &len);
    if (strlen(buf) != len) fatal("%s: holds a NUL byte; datasets are UTF-8 text", d->path);
    PromptSet all = {0};
    int cap = 0;
    if (strcmp(d->format, "text") == 0) read_text_blocks(&all, &cap, buf);
    else read_jsonl(&all, &cap, buf, d);
    free(buf);
    if (all.n == 0) fatal("%s: %s holds no prompts", where, d->path);

    for (int c = 0; c < d->n_categories; c++) {
        int found = 0;
        for (int i = 0; i < all.n && !found; i++) found = strcmp(all.prompts[i].category, d->categories[c]) == 0;
        if (!found) {
            char present[2048] = "";
            size_t used = 0;
            for (int i = 0; i < all.n; i++) {
                const char *cat = all.prompts[i].category;
                int seen = 0;
                for (int j = 0; j < i && !seen; j++) seen = strcmp(all.prompts[j].category, cat) == 0;
                if (seen || !cat[0] || used >= sizeof present) continue;
                used += snprintf(present + used, sizeof present - used, "%s%s", used ? ", " : "", cat);
            }
            fatal("%s: category \"%s\" is not in %s (categories there: %s)", where, d->categories[c],
                  d->path, used ? present : "none");
        }
    }

    memset(ps, 0, sizeof *ps);
    int out_cap = 0;
    for (int i = 0; i < all.n; i++) {
        Prompt *p = &all.prompts[i];
        int keep = d->n_categories == 0;
        for (int c = 0; c < d->n_categories && !keep; c++) keep = strcmp(p->category, d->categories[c]) == 0;
        if (!keep || (n_prompts > 0 && ps->n == n_prompts)) {
            prompt_free(p);
            continue;
        }
        if (d->prefix_words > 0) {
            char *cut = first_words(p->text, d->prefix_words);
            free(p->text);
            p->text = cut;
        }
        if (!p->text[0]) fatal("%s: prompt %s in %s is empty", where, p->id, d->path);
        for (int j = 0; j < ps->n; j++)
            if (strcmp(ps->prompts[j].id, p->id) == 0)
                fatal("%s: prompt id \"%s\" appears twice in %s; ids must be unique", where, p->id, d->path);
        push_prompt(ps, &out_cap, p->id, p->category, p->text);
    }
    free(all.prompts);
    if (ps->n == 0) fatal("%s: no prompt in %s passes the category filter", where, d->path);
    if (n_prompts > 0 && ps->n < n_prompts)
        fatal("%s: n_prompts is %d but %s has only %d matching prompts", where, n_prompts, d->path, ps->n);
}

void prompt_set_free(PromptSet *ps) {
    for (int i = 0; i < ps->n; i++) prompt_free(&ps->prompts[i]);
    free(ps->prompts);
    memset(ps, 0, sizeof *ps);
}

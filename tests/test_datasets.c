/* Dataset readers against the shared prompt sets, with counts and first records checked against
 * an independent reading of the files with Python's json module (values pinned below), and every
 * bad input refused with exit status 2 and one error line. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets.h"
#include "test_util.h"


static DatasetSpec spec(const char *name, const char *format) {
    DatasetSpec d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.format, sizeof d.format, "%s", format);
    dataset_spec_apply_format(&d, "test");
    resolve_data_path(d.name, d.path, sizeof d.path);
    return d;
}

static void check_set(const char *file, const char *format, int n_expected, const char *first_id,
                      const char *first_text_prefix) {
    DatasetSpec d = spec(file, format);
    PromptSet ps;
    dataset_load(&ps, &d, 0, "test");
    EXPECT(ps.n == n_expected, "%s: %d prompts, want %d", file, ps.n, n_expected);
    EXPECT(!strcmp(ps.prompts[0].id, first_id), "%s: first id %s, want %s", file, ps.prompts[0].id, first_id);
    EXPECT(!strncmp(ps.prompts[0].text, first_text_prefix, strlen(first_text_prefix)), "%s: first text '%.40s'", file,
           ps.prompts[0].text);
    prompt_set_free(&ps);
}

static void load_spec(void *arg) {
    const DatasetSpec *d = arg;
    PromptSet ps;
    dataset_load(&ps, d, 0, "cfg.json: dataset");
}

static void load_five_hundred(void *arg) {
    PromptSet ps;
    dataset_load(&ps, arg, 500, "cfg.json: dataset");
}

static void resolve_missing(void *arg) {
    char out[4096];
    resolve_data_path(arg, out, sizeof out);
}

static void bad_format(void *arg) {
    DatasetSpec d;
    memset(&d, 0, sizeof d);
    snprintf(d.format, sizeof d.format, "%s", (const char *)arg);
    dataset_spec_apply_format(&d, "cfg.json: dataset");
}

static DatasetSpec temp_file(const char *content, const char *format, const char *field) {
    DatasetSpec d;
    memset(&d, 0, sizeof d);
    snprintf(d.path, sizeof d.path, "/tmp/specdec_test_datasets_%d.txt", (int)getpid());
    FILE *f = fopen(d.path, "w");
    fputs(content, f);
    fclose(f);
    snprintf(d.format, sizeof d.format, "%s", format);
    snprintf(d.field, sizeof d.field, "%s", field);
    dataset_spec_apply_format(&d, "test");
    return d;
}

int main(void) {
    check_set("humaneval.jsonl", "humaneval", 164, "HumanEval/0", "from typing import List\n\n\ndef has_close_");
    check_set("spec_bench.jsonl", "spec_bench", 480, "81", "Compose an engaging travel blog post");
    check_set("mt_bench.jsonl", "mt_bench", 80, "81", "Compose an engaging travel blog post");
    check_set("gsm8k_test.jsonl", "gsm8k", 1319, "#0", "Janet");
    /* blank-line-separated blocks; a line of only spaces counts as blank */
    check_set("tinystories_val.txt", "text", 4302, "#0", "Spot. Spot saw the shiny car");

    /* category filter, n_prompts, and ids of the filtered records */
    DatasetSpec d = spec("spec_bench.jsonl", "spec_bench");
    snprintf(d.categories[0], sizeof d.categories[0], "translation");
    snprintf(d.categories[1], sizeof d.categories[1], "coding");
    d.n_categories = 2;
    PromptSet ps;
    dataset_load(&ps, &d, 0, "test");
    EXPECT(ps.n == 90, "translation + coding: %d prompts, want 90", ps.n);
    EXPECT(!strcmp(ps.prompts[0].id, "121") && !strcmp(ps.prompts[0].category, "coding"), "first filtered: %s %s",
           ps.prompts[0].id, ps.prompts[0].category);
    prompt_set_free(&ps);
    d.n_categories = 1;
    dataset_load(&ps, &d, 3, "test");
    EXPECT(ps.n == 3 && !strcmp(ps.prompts[0].id, "161"), "3 translation prompts: %d, first %s", ps.n, ps.prompts[0].id);
    const char *want = "Translate German to English: Pfandh\xc3\xa4user boomen in Singapur";
    EXPECT(!strncmp(ps.prompts[0].text, want, strlen(want)), "translation text '%.60s'", ps.prompts[0].text);
    prompt_set_free(&ps);

    /* prefix_words keeps the first words with their spacing */
    d = spec("tinystories_val.txt", "text");
    d.prefix_words = 8;
    dataset_load(&ps, &d, 3, "test");
    EXPECT(ps.n == 3 && !strcmp(ps.prompts[2].text, "Once upon a time, in a big forest,"), "prefix: '%s'", ps.prompts[2].text);
    prompt_set_free(&ps);

    /* generic jsonl: a string field, an array field (first element), numeric ids */
    d = temp_file("{\"q\": \"alpha\", \"k\": 7}\n\n{\"q\": [\"beta\", \"x\"], \"k\": 8}\n", "jsonl", "q");
    snprintf(d.id_field, sizeof d.id_field, "k");
    dataset_load(&ps, &d, 0, "test");
    EXPECT(ps.n == 2 && !strcmp(ps.prompts[1].text, "beta") && !strcmp(ps.prompts[1].id, "8"), "jsonl: %d '%s' %s", ps.n,
           ps.n > 1 ? ps.prompts[1].text : "", ps.n > 1 ? ps.prompts[1].id : "");
    prompt_set_free(&ps);

    /* bad inputs: one line, exit 2 */
    d = temp_file("", "text", "");
    test_expect_fatal("empty file", load_spec, &d, "holds no prompts");
    d = temp_file("\n  \n\n", "text", "");
    test_expect_fatal("blank file", load_spec, &d, "holds no prompts");
    d = temp_file("{\"q\": \"a\"}\n{\"q\": \n", "jsonl", "q");
    test_expect_fatal("broken line", load_spec, &d, ":2: not valid JSON");
    d = temp_file("{\"q\": \"a\"}\n{\"p\": \"b\"}\n", "jsonl", "q");
    test_expect_fatal("missing field", load_spec, &d, ":2: \"q\" must be a string");
    d = temp_file("{\"q\": \"a\", \"id\": 1}\n{\"q\": \"b\", \"id\": 1}\n", "jsonl", "q");
    snprintf(d.id_field, sizeof d.id_field, "id");
    test_expect_fatal("duplicate id", load_spec, &d, "appears twice");
    d = temp_file("[1, 2]\n", "jsonl", "q");
    test_expect_fatal("not an object", load_spec, &d, "must be a JSON object");
    unlink(d.path);
    d = spec("mt_bench.jsonl", "mt_bench");
    snprintf(d.categories[0], sizeof d.categories[0], "poetry");
    d.n_categories = 1;
    test_expect_fatal("unknown category", load_spec, &d, "category \"poetry\" is not in");
    d = spec("humaneval.jsonl", "humaneval");
    test_expect_fatal("too many prompts", load_five_hundred, &d, "n_prompts is 500 but");
    test_expect_fatal("missing file", resolve_missing, "no_such_dataset.jsonl", "dataset no_such_dataset.jsonl not found");
    test_expect_fatal("unknown format", bad_format, "csv", "unknown format \"csv\"");
    test_expect_fatal("jsonl without field", bad_format, "jsonl", "needs \"field\"");

    return test_summary("test_datasets");
}

/* SHA-256 against the FIPS 180-4 example vectors (NIST "SHA256.pdf" examples: "abc", the
 * 448-bit two-block message, and one million 'a'), the empty message, chunked updates, and a
 * model file against the sha256 recorded in ../shared/models/SOURCES.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "test_util.h"

static void expect_hex(const char *what, const char *got, const char *want) {
    EXPECT(strcmp(got, want) == 0, "%s:\n  got  %s\n  want %s", what, got, want);
}

int main(void) {
    char hex[65];
    sha256_hex("abc", 3, hex);
    expect_hex("abc", hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    const char *two_block = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two_block, strlen(two_block), hex);
    expect_hex("448-bit message", hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    sha256_hex("", 0, hex);
    expect_hex("empty", hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* One million 'a', fed in uneven chunks so that every partial-block path runs. */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    Sha256 s;
    uint8_t digest[32];
    sha256_init(&s);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t take = step < 1000000 - done ? step : 1000000 - done;
        sha256_update(&s, a + done, take);
        done += take;
        step = step * 7 % 997 + 1;
    }
    sha256_final(&s, digest);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", digest[i]);
    expect_hex("million a (chunked)", hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    sha256_hex(a, 1000000, hex);
    expect_hex("million a (one call)", hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);

    char path[4096];
    test_model_path("tinystories-llama2c/tinystories_260k/tokenizer.bin", path, sizeof path);
    sha256_file_hex(path, hex);
    expect_hex("tokenizer.bin file", hex, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312");

    return test_summary("test_sha256");
}

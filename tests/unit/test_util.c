/*
 * test_util.c - the domain-free utilities: configuration table, phone
 * masking, digests and HMAC (RFC 4231 vectors), Base64, UUIDv7, dates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/cfg.h"
#include "util/csv.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

enum { P_PORT, P_NAME, P_SECRET, P_FLAG, P_N };
static const cfg_param params[P_N] = {
    [P_PORT] = {"T_PORT", CFG_INT, "8081", 1, 65535, "port"},
    [P_NAME] = {"T_NAME", CFG_STR, NULL, 0, 0, "required name"},
    [P_SECRET] = {"T_SECRET", CFG_SECRET, NULL, 0, 0, "a secret"},
    [P_FLAG] = {"T_FLAG", CFG_BOOL, "no", 0, 0, "a flag"},
};

static void test_cfg(void)
{
    char err[256], path[4096];
    unsetenv("T_PORT");
    unsetenv("T_NAME");
    unsetenv("T_SECRET");
    unsetenv("T_SECRET_FILE");
    unsetenv("T_FLAG");
    CHECK(cfg_load(params, P_N, err, sizeof(err)) == NULL, "required missing");
    CHECK(strstr(err, "T_NAME") != NULL, "names T_NAME: %s", err);
    setenv("T_NAME", "x", 1);
    CHECK(cfg_load(params, P_N, err, sizeof(err)) == NULL, "secret missing");
    CHECK(strstr(err, "T_SECRET") != NULL, "names T_SECRET: %s", err);
    CHECK(check_temp_file("s3cret\n", path, sizeof(path)) == 0, "write secret file");
    setenv("T_SECRET_FILE", path, 1);
    cfg *c = cfg_load(params, P_N, err, sizeof(err));
    CHECK(c != NULL, "load: %s", err);
    if (c) {
        CHECK_INT(cfg_int(c, P_PORT), 8081, "default port");
        CHECK_STR(cfg_str(c, P_SECRET), "s3cret", "secret from file, newline stripped");
        CHECK_INT(cfg_int(c, P_FLAG), 0, "default flag");
        c = cfg_free(c);
    }
    unlink(path);
    setenv("T_SECRET", "direct", 1);
    setenv("T_PORT", "70000", 1);
    CHECK(cfg_load(params, P_N, err, sizeof(err)) == NULL, "port above max");
    CHECK(strstr(err, "T_PORT") && strstr(err, "65535"), "bound named: %s", err);
    setenv("T_PORT", "80x", 1);
    CHECK(cfg_load(params, P_N, err, sizeof(err)) == NULL, "not a number");
    setenv("T_PORT", "9000", 1);
    setenv("T_FLAG", "maybe", 1);
    CHECK(cfg_load(params, P_N, err, sizeof(err)) == NULL, "bad bool");
    CHECK(strstr(err, "maybe") != NULL, "bad bool echoed: %s", err);
    setenv("T_FLAG", "YES", 1);
    c = cfg_load(params, P_N, err, sizeof(err));
    CHECK(c && cfg_int(c, P_PORT) == 9000 && cfg_int(c, P_FLAG) == 1, "values from env");
    cfg_free(c);
    setenv("T_SECRET", "", 1);
    setenv("T_SECRET_FILE", "/nonexistent/secret", 1);
    CHECK(cfg_load(params, P_N, err, sizeof(err)) == NULL, "unreadable secret file");
    CHECK(strstr(err, "T_SECRET_FILE") != NULL, "names the _FILE: %s", err);
}

static void test_crypto(void)
{
    unsigned char d[32];
    char hex[65];
    crypto_sha256("abc", 3, d);
    CHECK_STR(crypto_hex(d, 32, hex),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc");
    /* RFC 4231 test case 1 and 2 */
    unsigned char k1[20];
    memset(k1, 0x0b, 20);
    crypto_hmac_sha256(k1, 20, "Hi There", 8, d);
    CHECK_STR(crypto_hex(d, 32, hex),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "RFC 4231 #1");
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    CHECK_STR(crypto_hex(d, 32, hex),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "RFC 4231 #2");

    static const struct {
        const char *in, *std, *url;
    } b64[] = {{"", "", ""},
               {"f", "Zg==", "Zg"},
               {"fo", "Zm8=", "Zm8"},
               {"foo", "Zm9v", "Zm9v"},
               {"\xfb\xff", "+/8=", "-_8"}};
    for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
        char out[16];
        unsigned char back[16];
        size_t n = strlen(b64[i].in);
        crypto_b64_encode((const unsigned char *)b64[i].in, n, 0, out, sizeof(out));
        CHECK_STR(out, b64[i].std, "std base64");
        crypto_b64_encode((const unsigned char *)b64[i].in, n, 1, out, sizeof(out));
        CHECK_STR(out, b64[i].url, "url base64");
        int m = crypto_b64_decode(b64[i].std, strlen(b64[i].std), back, sizeof(back));
        CHECK(m == (int)n && memcmp(back, b64[i].in, n) == 0, "decode %s", b64[i].std);
        m = crypto_b64_decode(b64[i].url, strlen(b64[i].url), back, sizeof(back));
        CHECK(m == (int)n && memcmp(back, b64[i].in, n) == 0, "decode %s", b64[i].url);
    }
    unsigned char back[8];
    CHECK_INT(crypto_b64_decode("Zm9v!", 5, back, sizeof(back)), -1, "bad character");
    CHECK_INT(crypto_b64_decode("Z", 1, back, sizeof(back)), -1, "bad length");
    CHECK_INT(crypto_b64_decode("Zm9vZm9vZm9v", 12, back, 4), -1, "output too small");
    char tiny[4];
    CHECK_INT(crypto_b64_encode((const unsigned char *)"foo", 3, 0, tiny, sizeof(tiny)), -1,
              "encode buffer too small");

    char a[37], b[37];
    crypto_uuid_v7(a);
    CHECK(crypto_uuid_valid(a), "uuid valid: %s", a);
    CHECK(a[14] == '7', "version 7: %s", a);
    CHECK(strchr("89ab", a[19]) != NULL, "variant 10: %s", a);
    int ordered = 1;
    for (int i = 0; i < 5000; i++) {
        crypto_uuid_v7(b);
        ordered &= strcmp(a, b) < 0;
        memcpy(a, b, 37);
    }
    CHECK(ordered, "successive ids sort in creation order");
    CHECK(!crypto_uuid_valid("0190c0de-0000-7000-8000-00000000000"), "short uuid");
    CHECK(!crypto_uuid_valid("0190c0de00000-7000-8000-000000000000"), "misplaced dash");
}

static void test_misc(void)
{
    char out[32];
    CHECK_STR(log_mask_phone("13905730001", out, sizeof(out)), "139****0001", "mask phone");
    CHECK_STR(log_mask_phone("12345", out, sizeof(out)), "*****", "mask short");
    CHECK_STR(log_mask_phone(NULL, out, sizeof(out)), "", "mask NULL");
    CHECK_INT(log_level_parse("warn"), LOG_WARN, "level warn");
    CHECK_INT(log_level_parse("loud"), -1, "level loud");
    CHECK_INT(time_date_valid("2024-02-29"), 1, "leap day");
    CHECK_INT(time_date_valid("2023-02-29"), 0, "not a leap year");
    CHECK_INT(time_date_valid("2026-13-01"), 0, "month 13");
    CHECK_INT(time_date_valid("2026-1-01"), 0, "short month");
    CHECK_INT(time_date_valid("1900-02-29"), 0, "1900 is not leap");
    CHECK_INT(time_date_valid("2000-02-29"), 1, "2000 is leap");
    CHECK_STR(time_rfc3339(1456231584123LL, out, sizeof(out)), "2016-02-23T12:46:24.123Z",
              "rfc3339");
}

static void test_shanghai_date(void)
{
    char out[11];
    /* 2025-12-31T15:59:59.999Z is still the 31st in Shanghai; one ms later it is New Year. */
    CHECK_STR(time_shanghai_date(1767196799999LL, out), "2025-12-31",
              "before midnight in Shanghai");
    CHECK_STR(time_shanghai_date(1767196800000LL, out), "2026-01-01", "midnight in Shanghai");
    CHECK_STR(time_shanghai_date(0, out), "1970-01-01", "the epoch is 08:00 in Shanghai");
    CHECK_STR(time_shanghai_date(1709164800000LL, out), "2024-02-29", "leap day");
    CHECK_STR(time_format_day(-1, out), "1969-12-31", "the day before the epoch");
}

static void test_csv(void)
{
    char line[] = " 张三 ,\"a, \"\"quoted\"\" b\",,last\r\n";
    char *f[8];
    int n = csv_split(line, f, 8);
    CHECK_INT(n, 4, "fields");
    CHECK_STR(f[0], "张三", "trimmed");
    CHECK_STR(f[1], "a, \"quoted\" b", "quoted comma and doubled quotes");
    CHECK_STR(f[2], "", "empty field");
    CHECK_STR(f[3], "last", "line end stripped");
    char two[] = "a,b,c";
    CHECK_INT(csv_split(two, f, 2), 2, "at most max fields");
    char ws[] = "  x \n";
    CHECK_STR(csv_trim(ws), "x", "trim");
}

/* test_csv_records - every line end and RFC 4180 quoting, records and their line numbers */
static void test_csv_records(void)
{
    static const struct {
        const char *in, *what;
        const char *want; /* records joined by '|', each "line:text" */
    } cases[] = {
        {"a,b\nc,d\n", "LF", "1:a,b|2:c,d"},
        {"a,b\r\nc,d\r\n", "CRLF", "1:a,b|2:c,d"},
        {"a,b\rc,d\r", "bare CR", "1:a,b|2:c,d"},
        {"a\rb\r\nc\nd", "mixed, no final line end", "1:a|2:b|3:c|4:d"},
        {"a\r\rb", "CR CR: an empty record between", "1:a|2:|3:b"},
        {"\"x\ny\",z\nnext\n", "LF inside quotes", "1:\"x\ny\",z|3:next"},
        {"\"x\r\ny\",z\r\nnext", "CRLF inside quotes", "1:\"x\r\ny\",z|3:next"},
        {"\"x\ry\",z\rnext", "CR inside quotes", "1:\"x\ry\",z|3:next"},
        {"\"say \"\"hi\"\"\nthere\",1\n2", "doubled quotes then a break inside",
         "1:\"say \"\"hi\"\"\nthere\",1|3:2"},
        {"ab\"c,d\ne", "a quote inside an unquoted field", "1:ab\"c,d|2:e"},
        {"a,\"b,\nc\"\nd", "second field quoted across lines", "1:a,\"b,\nc\"|3:d"},
        {"", "empty input", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *in = fmemopen((void *)cases[i].in, strlen(cases[i].in), "r");
        char *buf = NULL, got[512] = "";
        size_t cap = 0, used = 0;
        long line = 1, spanned = 0;
        ssize_t n;
        if (in == NULL) {
            CHECK(0, "%s: fmemopen", cases[i].what);
            continue;
        }
        while ((n = csv_read_record(in, &buf, &cap, &spanned)) >= 0 && used < sizeof(got)) {
            used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%ld:%s", used ? "|" : "",
                                     line, buf);
            line += spanned;
        }
        CHECK_STR(got, cases[i].want, cases[i].what);
        free(buf);
        fclose(in);
    }
    char rec[] = "\"a\nb\",\"c\"\"d\",e";
    char *f[4];
    CHECK_INT(csv_split(rec, f, 4), 3, "fields of a record with a break inside quotes");
    CHECK_STR(f[0], "a\nb", "the line break kept inside the field");
    CHECK_STR(f[1], "c\"d", "doubled quote");
}

int main(void)
{
    test_csv();
    test_csv_records();
    test_cfg();
    test_crypto();
    test_misc();
    test_shanghai_date();
    return check_done();
}

/*
 * test_enrollment.c - the enrollment service's pure rules: enrollment kinds,
 * the age of a UUIDv7 (how "not yet seen" projects are told from unknown
 * ones), and the encoding of an imported CSV (UTF-8, GBK, neither).
 */
#include <string.h>

#include "check.h"
#include "enrollment.h"
#include "core/csvimport.h"
#include "util/crypto.h"

int main(void)
{
    CHECK_INT(enrollment_kind_valid("land_transfer"), 1, "land_transfer");
    CHECK_INT(enrollment_kind_valid("loan"), 0, "loan");
    CHECK_INT(enrollment_kind_valid(NULL), 0, "NULL kind");

    /* 0x0190c0de0000 ms = 1721222692864 (2024-07-17) */
    CHECK_INT(crypto_uuid_v7_age_ms("0190c0de-0000-7000-8000-000000000000", 1721222693864LL), 1000,
              "age of a v7 id");
    CHECK_INT(crypto_uuid_v7_age_ms("0190c0de-0000-4000-8000-000000000000", 1721222693864LL), -1,
              "a v4 id has no age");
    CHECK_INT(crypto_uuid_v7_age_ms("not-a-uuid", 0), -1, "not a UUID");

    /* "户主姓名,身份证号" in UTF-8 and in GBK (CP936) bytes */
    static const unsigned char utf8[] = "\xe6\x88\xb7\xe4\xb8\xbb\xe5\xa7\x93\xe5\x90\x8d,"
                                        "\xe8\xba\xab\xe4\xbb\xbd\xe8\xaf\x81\xe5\x8f\xb7\r\n";
    static const unsigned char gbk[] = "\xbb\xa7\xd6\xf7\xd0\xd5\xc3\xfb,"
                                       "\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\r\n";
    static const unsigned char bom[] = "\xef\xbb\xbfhead_name,id_number\n";
    static const unsigned char junk[] = "\xff\xfe\xff\xfe\x80\x80";
    CHECK_STR(csvimport_encoding(utf8, sizeof(utf8) - 1, 0), "utf-8", "UTF-8 header");
    CHECK_STR(csvimport_encoding(gbk, sizeof(gbk) - 1, 0), "gbk", "GBK header");
    CHECK_STR(csvimport_encoding(bom, sizeof(bom) - 1, 0), "utf-8", "UTF-8 with a BOM");
    CHECK(csvimport_encoding(junk, sizeof(junk) - 1, 0) == NULL, "neither");
    /* a sample cut inside a character: truncated forgives it, a whole file does not */
    CHECK_STR(csvimport_encoding(utf8, 5, 1), "utf-8", "UTF-8 cut mid-character");
    CHECK_STR(csvimport_encoding(gbk, 3, 1), "gbk", "GBK cut mid-character");
    return check_done();
}

/*
 * test_utf8.c - the strict UTF-8 module: RFC 3629's well-formed table at its
 * edges (overlongs, surrogates, beyond U+10FFFF, stray continuation bytes),
 * a sample cut inside a sequence, character counts and the scrub.
 */
#include <string.h>

#include "check.h"
#include "util/utf8.h"

typedef struct {
    const char *bytes;
    int valid, valid_cut;
    const char *what;
} utf8_case;

static const utf8_case cases[] = {
    {"", 1, 1, "empty"},
    {"abc", 1, 1, "ASCII"},
    {"\xE6\xB5\x8B\xE8\xAF\x95", 1, 1, "two CJK characters"},
    {"\xC2\x80", 1, 1, "U+0080, the first two-byte one"},
    {"\xF0\x9F\x98\x80", 1, 1, "U+1F600, four bytes"},
    {"\xF4\x8F\xBF\xBF", 1, 1, "U+10FFFF, the last"},
    {"\xC0\xAF", 0, 0, "overlong '/' (C0)"},
    {"\xC1\xBF", 0, 0, "overlong (C1)"},
    {"\xE0\x80\xAF", 0, 0, "overlong three-byte"},
    {"\xF0\x80\x80\xAF", 0, 0, "overlong four-byte"},
    {"\xED\xA0\x80", 0, 0, "surrogate U+D800"},
    {"\xED\xBF\xBF", 0, 0, "surrogate U+DFFF"},
    {"\xF4\x90\x80\x80", 0, 0, "U+110000"},
    {"\xF5\x80\x80\x80", 0, 0, "F5 lead"},
    {"\x80", 0, 0, "a stray continuation byte"},
    {"\xE6\xB5"
     "a",
     0, 0, "a sequence broken by ASCII"},
    {"ab\xE6", 0, 1, "cut after the lead byte"},
    {"ab\xE6\xB5", 0, 1, "cut after two of three bytes"},
    {"ab\xF0\x9F\x98", 0, 1, "cut after three of four bytes"},
    {"ab\xE0\x80", 0, 0, "cut, but an overlong beginning"},
    {"ab\xED\xA0", 0, 0, "cut, but a surrogate beginning"},
    {"ab\xF4\x90", 0, 0, "cut, but beyond U+10FFFF"},
    {"ab\xC0", 0, 0, "cut, but C0 can never start one"},
};

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const utf8_case *t = &cases[i];
        CHECK_INT(utf8_valid(t->bytes, strlen(t->bytes)), t->valid, t->what);
        CHECK_INT(utf8_valid_cut(t->bytes, strlen(t->bytes)), t->valid_cut, t->what);
    }
    CHECK_INT(utf8_seq((const unsigned char *)"\xE6\xB5\x8B", 3), 3, "seq of a CJK character");
    CHECK_INT(utf8_seq((const unsigned char *)"\xE6\xB5\x8B", 2), 0, "seq without its last byte");
    CHECK_INT(utf8_seq((const unsigned char *)"", 0), 0, "seq of nothing");
    CHECK_INT(utf8_chars("a\xE6\xB5\x8B\xF0\x9F\x98\x80"), 3, "characters, not bytes");
    char scrub[] = "a\xC0\xAF\xE6\xB5\x8B\x80z";
    utf8_scrub(scrub);
    CHECK_STR(scrub, "a??\xE6\xB5\x8B?z", "scrub keeps what is valid, marks the rest");
    return check_done();
}

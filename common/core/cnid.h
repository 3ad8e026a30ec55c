/*
 * cnid.h - Chinese identifiers: mainland mobile numbers and unified social
 * credit codes (GB 32100-2015) and resident ID-card numbers (GB 11643-1999).
 *
 * Pure functions; no allocation; they never log what they check.
 */
#ifndef SHANTANG_CORE_CNID_H
#define SHANTANG_CORE_CNID_H

#include <stddef.h>

/*
 * cnid_phone_normalise - accept a mainland mobile number, with an optional
 * "+86"/"86" prefix and spaces or dashes between digits, and write the
 * bare 11 digits into out (12 bytes). Returns 0, or -1 when it is not a
 * mainland mobile (11 digits starting 13-19).
 */
int cnid_phone_normalise(const char *in, char out[12]);

/*
 * cnid_uscc_check - the check character (18th) for the first 17 characters
 * of a unified social credit code, or 0 if one of them is outside the code's
 * alphabet (digits and capitals except I, O, Z, S, V).
 */
char cnid_uscc_check(const char *first17);

/*
 * cnid_uscc_valid - 0 when code is a well-formed unified social credit code
 * with a correct check character; otherwise -1 and why ("length", "charset",
 * "check character") in a static string at *why.
 */
int cnid_uscc_valid(const char *code, const char **why);

/*
 * cnid_idcard_normalise - check an 18-character resident ID-card number
 * (spaces ignored, a final x accepted and normalised to X) and write the
 * canonical form into out (19 bytes). today is "YYYYMMDD" (the birth date
 * may not lie after it). Returns 0, or -1 with the rule that failed in a
 * static string at *why: "length", "characters", "province", "birth date",
 * "check digit".
 */
int cnid_idcard_normalise(const char *in, const char *today, char out[19], const char **why);

/* cnid_idcard_check - the check character for 17 digits ('0'..'9' or 'X'), or 0 if not digits */
char cnid_idcard_check(const char *first17);

#endif

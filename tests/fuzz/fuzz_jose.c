/*
 * fuzz_jose.c - the JOSE parsers a verifier runs on what it is sent or
 * fetched (common/util/jose.c): jose_jws_parse on a compact token, and
 * jose_jwk_to_key on a JWK (public, and with want_private) followed by the
 * key's alg and thumbprint, and a signature check of a fixed input.
 *
 * First byte: even = the rest is a compact JWS, odd = the rest is a JWK
 * (JSON object) or a JWKS ({"keys": [...]}, every member tried).
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "util/jose.h"

/* one_jwk - turn one JWK into a key both ways and use it */
static void one_jwk(const cJSON *jwk)
{
    char err[128], thumb[JOSE_THUMB_LEN];
    static const unsigned char sig[64] = {1};
    for (int priv = 0; priv < 2; priv++) {
        EVP_PKEY *k = jose_jwk_to_key(jwk, priv, err, sizeof(err));
        if (k == NULL) {
            if (err[0] == '\0')
                abort(); /* a refusal says why */
            continue;
        }
        jose_alg alg = jose_key_alg(k);
        if (jose_thumbprint(k, thumb) == 0 && strlen(thumb) != 43)
            abort();
        cJSON *back = jose_key_to_jwk(k);
        cJSON_Delete(back);
        (void)jose_verify(k, NULL, 0, alg, "a.b", 3, sig, sizeof(sig));
        EVP_PKEY_free(k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_strndup(data + 1, size - 1);
    char err[128] = "";
    if ((data[0] & 1) == 0) {
        jose_jws jws;
        memset(&jws, 0, sizeof(jws));
        if (jose_jws_parse(s, 8192, &jws, err, sizeof(err)) == 0) {
            if (!cJSON_IsObject(jws.header) || jws.siglen > JOSE_MAX_SIG || jws.signing_len >= size)
                abort();
            const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jws.header, "alg");
            (void)jose_alg_parse(cJSON_GetStringValue(alg));
        } else if (err[0] == '\0') {
            abort();
        }
        jose_jws_clear(&jws);
    } else {
        cJSON *j = cJSON_ParseWithLength(s, size - 1);
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(j, "keys"), *k;
        if (cJSON_IsArray(keys)) {
            cJSON_ArrayForEach(k, keys) one_jwk(k);
        } else if (j) {
            one_jwk(j);
        }
        cJSON_Delete(j);
    }
    free(s);
    return 0;
}

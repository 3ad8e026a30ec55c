/*
 * fuzz_notifier_answers.c - what the SMS gateways answer, which is
 * untrusted input like any request (services/notifier): ntf_classify of a
 * send call's answer (Alibaba SendSms JSON, Tencent SendSms JSON, the
 * webhook gateway's JSON) and ntf_check_answer of a check call's answer
 * (Alibaba QuerySendDetails, Tencent PullSmsSendStatusByPhoneNumber).
 *
 * Input: byte 0 picks the provider (mod 3) and, in bit 7, the check answer
 * instead of the send answer; bytes 1-2 the HTTP status (100..599); the
 * rest is the body. The receipts the gateways post back are fuzzed by
 * fuzz_route_notifier.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "notifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int kind = (data[0] & 0x7f) % NTF_NPROVIDERS, check = data[0] >> 7;
    long status = 100 + ((data[1] << 8 | data[2]) % 500);
    char *body = fuzz_strndup(data + 3, size - 3);
    char id[128] = "", detail[256] = "";
    if (check) {
        int r = ntf_check_answer(kind, status, body, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", id,
                                 sizeof(id));
        if (r < -1 || r > 1 || strlen(id) >= sizeof(id))
            abort();
    } else {
        ntf_outcome o =
            ntf_classify(kind, 0, 1, status, body, id, sizeof(id), detail, sizeof(detail));
        if ((int)o < 0 || strlen(id) >= sizeof(id) || strlen(detail) >= sizeof(detail))
            abort();
        /* no answer at all (curl failed before or after sending) */
        (void)ntf_classify(kind, 28, data[1] & 1, 0, NULL, id, sizeof(id), detail, sizeof(detail));
    }
    free(body);
    return 0;
}

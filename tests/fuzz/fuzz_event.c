/*
 * fuzz_event.c - the CloudEvents 1.0 envelope every consumer reads from
 * Kafka (common/core/event.c event_validate and the accessors): a message
 * on a topic is untrusted bytes until it validates.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    cJSON *ev = cJSON_ParseWithLength((const char *)data, size);
    if (ev == NULL)
        return 0;
    if (event_validate(ev, err, sizeof(err)) == 0) {
        /* a valid envelope has every attribute a consumer reads */
        if (!event_id(ev) || !event_type(ev) || !cJSON_IsObject(event_data(ev)))
            abort();
        (void)event_subject(ev);
    } else if (err[0] == '\0') {
        abort();
    }
    cJSON_Delete(ev);
    return 0;
}

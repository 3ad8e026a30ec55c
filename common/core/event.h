/*
 * event.h - the CloudEvents 1.0 JSON envelope every Shantang event travels in.
 *
 * {"specversion":"1.0","id":"<uuid v7>","source":"/shantang/<service>",
 *  "type":"project.registered","subject":"<aggregate id>",
 *  "time":"<RFC 3339 UTC>","datacontenttype":"application/json","data":{...}}
 * The subject is the aggregate the event is about. The Kafka key is not
 * always the subject: each topic's key rule is in the event catalogue
 * (core/catalogue.h): income entries are keyed by their household (or
 * project), enrollments by their household, sign-in codes by the phone, so
 * that what must stay in order shares a partition.
 */
#ifndef SHANTANG_CORE_EVENT_H
#define SHANTANG_CORE_EVENT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/*
 * event_new - a new envelope; takes ownership of data (even on failure).
 * Returns a cJSON object owned by the caller, or NULL on allocation failure.
 */
cJSON *event_new(const char *service, const char *type, const char *subject, cJSON *data);

/*
 * event_envelope_text - a new envelope without its data, as JSON text
 * (malloc'd; NULL when out of memory): for a command function that adds the
 * data it computes (common 005, core/service.h service_create_one); its id
 * is the envelope's own.
 */
char *event_envelope_text(const char *service, const char *type, const char *subject);

/*
 * event_validate - 0 if ev is a well-formed CloudEvents 1.0 JSON envelope
 * (required attributes present and strings, specversion "1.0", time RFC
 * 3339, data an object); -1 with err naming the attribute otherwise.
 */
int event_validate(const cJSON *ev, char *err, size_t errlen);

/* event_id / event_type / event_subject - attribute accessors; NULL if absent */
const char *event_id(const cJSON *ev);
const char *event_type(const cJSON *ev);
const char *event_subject(const cJSON *ev);

/* event_data - the data object (borrowed), or NULL */
const cJSON *event_data(const cJSON *ev);

#endif

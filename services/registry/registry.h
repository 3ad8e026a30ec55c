/*
 * registry.h - the project registry: regions, notables, partners, projects.
 *
 * The registry is the source of truth for who and what the programme is
 * made of. It publishes regions.v1 (region.upserted), projects.v1 (project.registered,
 * project.updated, project.status_changed) and notables.v1 (notable.registered), each event
 * carrying the aggregate's full current state, keyed by its id.
 * Files: registry_validate.c (pure rules), registry_regions.c,
 * registry_notables.c, registry_partners.c, registry_projects.c (handlers),
 * main.c (the service definition).
 */
#ifndef SHANTANG_REGISTRY_H
#define SHANTANG_REGISTRY_H

#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>
#include "core/catalogue.h"
#include "core/http.h"
#include "core/db.h"

/* The topics, from the event catalogue (core/catalogue.h). */
#define REGISTRY_TOPIC_PROJECTS (cat_topic_projects.name)
#define REGISTRY_TOPIC_NOTABLES (cat_topic_notables.name)
#define REGISTRY_TOPIC_REGIONS (cat_topic_regions.name)

/* The registry's own parameters, in table order (main.c). */
enum { REG_REGIONS_FILE, REG_NPARAMS };

/* --- registry_validate.c: pure rules, unit-tested --- */

/* registry_project_type_valid - 1 for one of the project types */
int registry_project_type_valid(const char *type);

/* registry_status_valid - 1 for planned, active, suspended or closed */
int registry_status_valid(const char *status);

/*
 * registry_lifecycle_json - the status lifecycle as a JSON object into buf
 * (len bytes), each status naming the statuses it may go to next,
 * comma-separated ("" for none): planned->active, planned->closed,
 * active->suspended, active->closed, suspended->active, suspended->closed.
 * The command judging a change reads it (registry 005). 0, or -1 when buf
 * is too short.
 */
int registry_lifecycle_json(char *buf, size_t len);

/* registry_lead_role_valid - 1 for one of the prosperity-lead fields */
int registry_lead_role_valid(const char *role);

/* registry_partner_kind_valid - 1 for enterprise, cooperative, collective, other */
int registry_partner_kind_valid(const char *kind);

/* registry_region_code_valid - 1 for exactly 12 ASCII digits */
int registry_region_code_valid(const char *code);

/* registry_region_side - "zhejiang" for 33..., "shanghai" for 31..., else "other" */
const char *registry_region_side(const char *code);

/* registry_level_parse - "province".."village" or the national list's 1..5; NULL if neither */
const char *registry_level_parse(const char *level);

/* --- registry_regions.c --- */

/*
 * registry_regions_import - import a region list (CSV: code,name,level,parent
 * and an optional 5th column "provisional" for codes not checked against the
 * official list; '#' lines are comments; an optional header row) on conn
 * inside the caller's transaction. Rows are upserted. Returns the number of
 * rows, or -1 with the first bad line's number and reason in err (nothing
 * should then be committed).
 */
long registry_regions_import(PGconn *conn, FILE *in, char *err, size_t errlen);

void registry_regions_list(http_req *req, http_resp *resp, void *ctx);
void registry_regions_get(http_req *req, http_resp *resp, void *ctx);
void registry_regions_import_http(http_req *req, http_resp *resp, void *ctx);

/* --- registry_notables.c --- */
void registry_notables_create(http_req *req, http_resp *resp, void *ctx);
void registry_notables_list(http_req *req, http_resp *resp, void *ctx);
void registry_notables_get(http_req *req, http_resp *resp, void *ctx);

/* --- registry_partners.c --- */
void registry_partners_create(http_req *req, http_resp *resp, void *ctx);
void registry_partners_list(http_req *req, http_resp *resp, void *ctx);
void registry_partners_get(http_req *req, http_resp *resp, void *ctx);

/* --- registry_projects.c --- */
void registry_projects_create(http_req *req, http_resp *resp, void *ctx);
void registry_projects_list(http_req *req, http_resp *resp, void *ctx);
void registry_projects_get(http_req *req, http_resp *resp, void *ctx);
void registry_projects_update(http_req *req, http_resp *resp, void *ctx);
void registry_projects_status(http_req *req, http_resp *resp, void *ctx);

#endif

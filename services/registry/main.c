/*
 * main.c - shantang-registry: the project registry service.
 *
 * Thin: declares the registry's parameters, routes and topics and hands them
 * to the common service skeleton (core/service.h), which does configuration,
 * signals, logging, database, Kafka and the HTTP front.
 * Privileges: runs as its own unprivileged user and its own database role,
 * which owns only the registry schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "core/service.h"
#include "util/log.h"

static const cfg_param registry_params[REG_NPARAMS] = {
    [REG_REGIONS_FILE] = {"REGISTRY_REGIONS_FILE", CFG_STR, "", 0, 0,
                          "region list (code,name,level,parent[,provisional]) imported at "
                          "start-up; empty for none"},
};

#define READERS ROLE_ANY
#define REGISTRARS (ROLE_ADMIN | ROLE_NOTABLE)

static const http_route registry_routes[] = {
    {"GET", "/v1/regions", READERS, registry_regions_list, 0},
    {"GET", "/v1/regions/{code}", READERS, registry_regions_get, 0},
    {"POST", "/v1/regions/import", ROLE_ADMIN, registry_regions_import_http, 0},
    {"POST", "/v1/notables", REGISTRARS, registry_notables_create, 0},
    {"GET", "/v1/notables", READERS, registry_notables_list, 0},
    {"GET", "/v1/notables/{id}", READERS, registry_notables_get, 0},
    {"POST", "/v1/partners", REGISTRARS, registry_partners_create, 0},
    {"GET", "/v1/partners", READERS, registry_partners_list, 0},
    {"GET", "/v1/partners/{id}", READERS, registry_partners_get, 0},
    {"POST", "/v1/projects", REGISTRARS, registry_projects_create, 0},
    {"GET", "/v1/projects", READERS, registry_projects_list, 0},
    {"GET", "/v1/projects/{id}", READERS, registry_projects_get, 0},
    {"PATCH", "/v1/projects/{id}", REGISTRARS, registry_projects_update, 0},
    {"POST", "/v1/projects/{id}/status", REGISTRARS, registry_projects_status, 0},
};

static const catalogue_topic *const registry_produces[] = {&cat_topic_regions, &cat_topic_projects,
                                                           &cat_topic_notables, NULL};

/* registry_init - import the region list named by REGISTRY_REGIONS_FILE, if any */
static int registry_init(service_ctx *ctx, char *err, size_t errlen)
{
    const char *path = cfg_str(ctx->own, REG_REGIONS_FILE);
    char why[256];
    db_err dberr;

    if (*path == '\0')
        return 0;
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        snprintf(err, errlen, "REGISTRY_REGIONS_FILE: cannot open %s", path);
        return -1;
    }
    PGconn *conn = db_acquire(ctx->db, 5000, &dberr);
    if (conn == NULL || db_begin(conn, &dberr) < 0) {
        fclose(in);
        if (conn)
            db_release(ctx->db, conn);
        snprintf(err, errlen, "regions import: %s", dberr.msg);
        return -1;
    }
    long rows = registry_regions_import(conn, in, why, sizeof(why));
    fclose(in);
    if (rows < 0 || db_commit(conn, &dberr) < 0) {
        db_rollback(conn);
        db_release(ctx->db, conn);
        snprintf(err, errlen, "REGISTRY_REGIONS_FILE %s: %s", path, rows < 0 ? why : dberr.msg);
        return -1;
    }
    db_release(ctx->db, conn);
    outbox_relay_wake(ctx->relay);
    log_info("imported %ld regions from %s", rows, path);
    return 0;
}

static const service_def registry_service = {
    .name = "registry",
    .default_port = 8081,
    .params = registry_params,
    .nparams = REG_NPARAMS,
    .routes = registry_routes,
    .nroutes = sizeof(registry_routes) / sizeof(registry_routes[0]),
    .produces = registry_produces,
    .init = registry_init,
};

int main(int argc, char **argv)
{
    return service_main(argc, argv, &registry_service);
}

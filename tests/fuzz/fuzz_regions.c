/*
 * fuzz_regions.c - the region list an admin uploads to POST
 * /v1/regions/import (and REGISTRY_REGIONS_FILE at start-up):
 * registry_regions_import (services/registry/registry_regions.c) reads it
 * line by line and writes each valid row. The harness hands it no
 * connection, so the first row that passes every check ends the import at
 * its statement; everything before (line length, BOM, comments, header,
 * columns, codes, levels, parents) is fuzzed.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    FILE *in = fmemopen((void *)data, size, "r");
    if (in == NULL)
        abort();
    char err[256] = "";
    long rows = registry_regions_import(NULL, in, err, sizeof(err));
    if (rows > 0 || (rows < 0 && err[0] == '\0'))
        abort(); /* no connection: nothing is written, and a failure says why */
    fclose(in);
    return 0;
}

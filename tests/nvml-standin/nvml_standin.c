/*
 * A stand-in for libnvidia-ml.so.1, for machines without an NVIDIA GPU.
 *
 * It exports the NVML entry points elt-console calls, with NVML's C signatures, so that
 * nvml-wrapper loads it through the same path (dlopen + symbol lookup) as the real library.
 * Values are fixed and plausible (a Tesla P40); the compute process list is taken from the
 * environment so tests can point it at a real container's process:
 *
 *   ELT_NVML_STANDIN_DEVICES  number of devices (default 1)
 *   ELT_NVML_STANDIN_PIDS     "pid:bytes,pid:bytes" compute processes on device 0
 *   ELT_NVML_STANDIN_FAIL_INIT  when set, nvmlInit fails with NVML_ERROR_DRIVER_NOT_LOADED
 *   ELT_NVML_STANDIN_USED_MIB   memory in use on each device (default 5120 of 24576; the
 *                               free memory is what is left after 300 reserved)
 *
 * Build: cc -shared -fPIC -o libnvidia-ml.so.1 nvml_standin.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
};

struct stand_in_device { unsigned int index; };
typedef struct stand_in_device *nvmlDevice_t;

typedef struct { unsigned int gpu; unsigned int memory; } nvmlUtilization_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#define MAX_DEVICES 8
#define MAX_PROCS 32
static struct stand_in_device devices[MAX_DEVICES];
static int initialised = 0;

static unsigned int device_count(void) {
    const char *s = getenv("ELT_NVML_STANDIN_DEVICES");
    int n = s ? atoi(s) : 1;
    if (n < 0) n = 0;
    if (n > MAX_DEVICES) n = MAX_DEVICES;
    return (unsigned int)n;
}

static void copy_string(char *dst, unsigned int len, const char *src) {
    if (len == 0) return;
    strncpy(dst, src, len - 1);
    dst[len - 1] = '\0';
}

nvmlReturn_t nvmlInit_v2(void) {
    if (getenv("ELT_NVML_STANDIN_FAIL_INIT")) return NVML_ERROR_DRIVER_NOT_LOADED;
    for (unsigned int i = 0; i < MAX_DEVICES; i++) devices[i].index = i;
    initialised = 1;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { (void)flags; return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) { initialised = 0; return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    copy_string(version, length, "535.54.03-standin");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = device_count();
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (!device || index >= device_count()) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    if (!d) return NVML_ERROR_INVALID_ARGUMENT;
    copy_string(name, length, "Tesla P40 (stand-in)");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    char buf[64];
    if (!d) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(buf, sizeof buf, "GPU-5tand1n0-0000-0000-0000-00000000000%u", d->index);
    copy_string(uuid, length, buf);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    if (!d || !u) return NVML_ERROR_INVALID_ARGUMENT;
    u->gpu = 37 + d->index;
    u->memory = 21;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    if (!d || !m) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = 24ULL * 1024 * 1024 * 1024;
    m->reserved = 300ULL * 1024 * 1024;
    const char *used = getenv("ELT_NVML_STANDIN_USED_MIB");
    m->used = (used ? strtoull(used, NULL, 10) : 5120ULL) * 1024 * 1024;
    if (m->used > m->total - m->reserved) m->used = m->total - m->reserved;
    m->free = m->total - m->reserved - m->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *t) {
    if (!d || !t || sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
    *t = 54;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
    if (!d || !mw) return NVML_ERROR_INVALID_ARGUMENT;
    *mw = 98000;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw) {
    if (!d || !mw) return NVML_ERROR_INVALID_ARGUMENT;
    *mw = 250000;
    return NVML_SUCCESS;
}

/* Parse ELT_NVML_STANDIN_PIDS for device 0; other devices run nothing. */
static unsigned int stand_in_processes(nvmlDevice_t d, nvmlProcessInfo_t *out, unsigned int cap) {
    const char *spec = getenv("ELT_NVML_STANDIN_PIDS");
    unsigned int n = 0;
    if (!spec || d->index != 0) return 0;
    char buf[1024];
    copy_string(buf, sizeof buf, spec);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item && n < MAX_PROCS;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        if (!colon) continue;
        *colon = '\0';
        if (out && n < cap) {
            out[n].pid = (unsigned int)strtoul(item, NULL, 10);
            out[n].usedGpuMemory = strtoull(colon + 1, NULL, 10);
            out[n].gpuInstanceId = 0xFFFFFFFFu;
            out[n].computeInstanceId = 0xFFFFFFFFu;
        }
        n++;
    }
    return n;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    if (!d || !count) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int n = stand_in_processes(d, NULL, 0);
    if (n == 0) { *count = 0; return NVML_SUCCESS; }
    if (!infos || *count < n) { *count = n; return NVML_ERROR_INSUFFICIENT_SIZE; }
    *count = stand_in_processes(d, infos, *count);
    return NVML_SUCCESS;
}

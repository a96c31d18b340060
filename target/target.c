/* Backend selection. */
#include <string.h>

#include "check.h"
#include "target.h"

const char *default_device(void) {
#ifdef SPECDEC_HAVE_CUDA
    if (cuda_device_available()) return "cuda";
#endif
    return "cpu";
}

Target *target_build(const Model *m, const char *device, int max_batch) {
    if (!device || !strcmp(device, "cpu")) return target_cpu_build(m, max_batch);
    if (!strcmp(device, "cuda")) {
#ifdef SPECDEC_HAVE_CUDA
        if (!cuda_device_available()) fatal("--device cuda: no CUDA device is available");
        return target_cuda_build(m, max_batch);
#else
        fatal("--device cuda: this build has no CUDA backend (configure with -DSPECDEC_CUDA=ON and nvcc)");
#endif
    }
    fatal("--device: unknown device '%s' (expected cpu or cuda)", device);
}

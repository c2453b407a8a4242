/*
 * malloc_trim(3) for the driver: glibc keeps the memory that freed allocations leave
 * in the middle of its heap (only the top is given back by itself), so after a burst
 * the driver stays at its peak. Trimming hands those pages back to the kernel. It runs
 * on the main thread: with one malloc arena it takes a few milliseconds, rarely.
 * Where the C library has no malloc_trim (musl), `trim` does nothing and says so.
 */
#include <node_api.h>
#include <stdbool.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Returns true when memory was given back. */
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#ifdef __GLIBC__
  released = malloc_trim(0) == 1;
#endif
  napi_value result;
  napi_get_boolean(env, released, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"trim", NULL, trim, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

/*
 * Gives the C heap's free memory back to the kernel: glibc's malloc_trim(0), on
 * libuv's threadpool. On its own glibc returns only the free memory at the top of
 * its heap; memory freed below a chunk still in use stays resident for good, so a
 * burst of large requests leaves the process that much bigger after every buffer is
 * freed. The promise resolves true when memory was returned. Without glibc (musl)
 * it does nothing and resolves false.
 */
#include <node_api.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct {
  napi_deferred deferred;
  napi_async_work work;
  int released;
} Trim;

/* Runs on the threadpool: no N-API calls here. */
static void execute(napi_env env, void *data) {
  (void)env;
  Trim *trim = data;
#ifdef __GLIBC__
  trim->released = malloc_trim(0);
#else
  trim->released = 0;
#endif
}

static void complete(napi_env env, napi_status status, void *data) {
  (void)status;
  Trim *trim = data;
  napi_value result;
  napi_get_boolean(env, trim->released != 0, &result);
  napi_resolve_deferred(env, trim->deferred, result);
  napi_delete_async_work(env, trim->work);
  free(trim);
}

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  Trim *trim = calloc(1, sizeof(Trim));
  napi_value promise, name;
  if (trim == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (napi_create_promise(env, &trim->deferred, &promise) != napi_ok) {
    free(trim);
    napi_throw_error(env, NULL, "could not create a promise");
    return NULL;
  }
  if (napi_create_string_utf8(env, "malloc_trim", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, trim, &trim->work) != napi_ok ||
      napi_queue_async_work(env, trim->work) != napi_ok) {
    /* Not queued: nothing was returned, which is what the caller would have learnt. */
    napi_value released;
    napi_get_boolean(env, 0, &released);
    napi_resolve_deferred(env, trim->deferred, released);
    if (trim->work != NULL) napi_delete_async_work(env, trim->work);
    free(trim);
  }
  return promise;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"trim", NULL, trim, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

/*
 * mount(2) and umount2(2) for the driver, so a bind mount costs two syscalls on
 * libuv's threadpool instead of a mount(8) process (~2.5 ms each on a small node,
 * most of it exec): read-only binds into pods, a writable bind to take an earlier
 * tmpfs back from a pod's target, the data root's tmpfs, and unmounts. Each call returns a Promise; a failure rejects with an Error
 * carrying `errno` (the positive number) and `syscall` (the step that failed).
 * Paths arrive canonical from the caller; nothing here resolves or checks them.
 *
 * statMount answers the Mounter's usual question (is the target a mount point, and is
 * what is mounted there the volume's own directory?) from statx(2), so the common cases
 * (a fresh target; the target holding the volume's bind) need no read of
 * /proc/self/mountinfo, whose text the kernel builds for every mount of the namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>

/* Older kernel headers lack these (Linux 5.8); the kernel leaves them out of the answer's masks when it does not know them. */
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#define TMPFS_MAGIC_NUMBER 0x01021994

/* statMount's answers; keep in step with src/volume/mount-syscalls.ts. */
enum { NOT_MOUNTED = 0, BIND_OF_SOURCE = 1, MOUNTED = 2, UNKNOWN = 3 };

#define MAX_PATH 4096

typedef enum { BIND_READ_ONLY, BIND_WRITABLE, TMPFS, UNMOUNT, STAT_MOUNT } Operation;

typedef struct {
  Operation operation;
  char source[MAX_PATH];
  char target[MAX_PATH];
  char options[256];
  int result;          /* STAT_MOUNT's answer */
  int error;           /* errno of the failed step, 0 on success */
  const char *syscall; /* the failed step */
  napi_deferred deferred;
  napi_async_work work;
} Call;

/*
 * Per-mount flags a read-only remount must keep: leaving one out would clear it. Should
 * statvfs fail, none are kept; where a flag is locked (a user namespace) the remount then
 * fails with EPERM and the bind is undone, so nothing writable is left either way.
 */
static unsigned long kept_flags(const char *target) {
  struct statvfs fs;
  unsigned long flags = 0;
  if (statvfs(target, &fs) != 0) return 0;
  if (fs.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (fs.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (fs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (fs.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (fs.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (fs.f_flag & ST_RELATIME) flags |= MS_RELATIME;
#if defined(ST_NOSYMFOLLOW) && defined(MS_NOSYMFOLLOW)
  if (fs.f_flag & ST_NOSYMFOLLOW) flags |= MS_NOSYMFOLLOW;
#endif
  return flags;
}

/* 1 when `target` is the root of a mount, 0 when not, -1 when statx cannot tell; `at` gets its statx. */
static int is_mount_root(const char *target, struct statx *at) {
  if (statx(AT_FDCWD, target, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_MNT_ID, at) != 0) {
    /* A missing path is no mount point, as mountinfo would say. */
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  }
  if (at->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) return (at->stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  /* A kernel without the attribute: compare with the parent directory's mount. */
  char parent[MAX_PATH];
  snprintf(parent, sizeof parent, "%s", target);
  char *slash = strrchr(parent, '/');
  if (slash == NULL) return -1;
  if (slash == parent) {
    if (slash[1] == '\0') return 1; /* "/" */
    slash[1] = '\0';
  } else {
    *slash = '\0';
  }
  struct statx up;
  if (statx(AT_FDCWD, parent, 0, STATX_BASIC_STATS | STATX_MNT_ID, &up) != 0) return -1;
  if ((at->stx_mask & STATX_MNT_ID) && (up.stx_mask & STATX_MNT_ID)) return at->stx_mnt_id != up.stx_mnt_id;
  /* Another device is another mount; the same device may still be a bind. */
  if (at->stx_dev_major != up.stx_dev_major || at->stx_dev_minor != up.stx_dev_minor) return 1;
  return -1;
}

/*
 * What is mounted on top at `target`: nothing; a tmpfs showing `source`'s own directory
 * (the same device and inode: a bind of it); something else; or UNKNOWN, for the caller
 * to read mountinfo. `source` may be empty: then a mount point is MOUNTED.
 */
static int stat_mount(const char *target, const char *source) {
  struct statx at;
  int root = is_mount_root(target, &at);
  if (root < 0) return UNKNOWN;
  if (root == 0) return NOT_MOUNTED;
  if (source[0] == '\0') return MOUNTED;
  struct statx of;
  if (statx(AT_FDCWD, source, 0, STATX_BASIC_STATS, &of) != 0) return MOUNTED;
  if (at.stx_ino != of.stx_ino || at.stx_dev_major != of.stx_dev_major || at.stx_dev_minor != of.stx_dev_minor)
    return MOUNTED;
  struct statfs fs;
  if (statfs(target, &fs) != 0) return UNKNOWN;
  return fs.f_type == TMPFS_MAGIC_NUMBER ? BIND_OF_SOURCE : MOUNTED;
}

static void fail(Call *call, const char *syscall) {
  call->error = errno;
  call->syscall = syscall;
}

/* Runs on the threadpool: no N-API calls here. */
static void execute(napi_env env, void *data) {
  (void)env;
  Call *call = data;
  switch (call->operation) {
    case BIND_READ_ONLY:
      /* The kernel ignores MS_RDONLY on a bind: it takes a remount of the new mount. */
      if (mount(call->source, call->target, NULL, MS_BIND, NULL) != 0) {
        fail(call, "mount");
        return;
      }
      if (mount(NULL, call->target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(call->target),
                NULL) != 0) {
        fail(call, "remount");
        /* Never leave a writable bind behind. */
        umount2(call->target, MNT_DETACH);
      }
      return;
    case BIND_WRITABLE:
      /*
       * A bind copies the source mount's per-mount flags, read-only included (the source is a
       * pod's read-only target); the remount clears it for this bind only. The filesystem
       * underneath was writable all along: MS_RDONLY of a bind is per mount, not per superblock.
       */
      if (mount(call->source, call->target, NULL, MS_BIND, NULL) != 0) {
        fail(call, "mount");
        return;
      }
      if (mount(NULL, call->target, NULL, MS_REMOUNT | MS_BIND | kept_flags(call->target), NULL) != 0) {
        fail(call, "remount");
        umount2(call->target, MNT_DETACH);
      }
      return;
    case TMPFS:
      if (mount("tmpfs", call->target, "tmpfs", 0, call->options) != 0) fail(call, "mount");
      return;
    case UNMOUNT:
      if (umount2(call->target, 0) != 0) fail(call, "umount");
      return;
    case STAT_MOUNT:
      call->result = stat_mount(call->target, call->source);
      return;
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  Call *call = data;
  if (status != napi_ok && call->error == 0) {
    call->error = EINTR;
    call->syscall = "cancelled";
  }
  if (call->error == 0) {
    napi_value value;
    if (call->operation == STAT_MOUNT) napi_create_int32(env, call->result, &value);
    else napi_get_undefined(env, &value);
    napi_resolve_deferred(env, call->deferred, value);
  } else {
    napi_value message, error, number, syscall;
    napi_create_string_utf8(env, strerror(call->error), NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_create_int32(env, call->error, &number);
    napi_set_named_property(env, error, "errno", number);
    napi_create_string_utf8(env, call->syscall, NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, error, "syscall", syscall);
    napi_reject_deferred(env, call->deferred, error);
  }
  if (call->work != NULL) napi_delete_async_work(env, call->work);
  free(call);
}

/* Copies string argument `index` into `into`; false (with a pending TypeError) when it is not one that fits. */
static int string_argument(napi_env env, napi_value *argv, size_t argc, size_t index, char *into, size_t size) {
  size_t length = 0;
  if (index >= argc || napi_get_value_string_utf8(env, argv[index], NULL, 0, &length) != napi_ok ||
      length >= size) {
    char message[64];
    snprintf(message, sizeof message, "argument %zu: expected a string shorter than %zu bytes", index + 1, size);
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  napi_get_value_string_utf8(env, argv[index], into, size, &length);
  return 1;
}

static napi_value start(napi_env env, napi_callback_info info, Operation operation) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Call *call = calloc(1, sizeof(Call));
  if (call == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  call->operation = operation;
  int ok = 1;
  switch (operation) {
    case BIND_READ_ONLY:
    case BIND_WRITABLE:
      ok = string_argument(env, argv, argc, 0, call->source, sizeof call->source) &&
           string_argument(env, argv, argc, 1, call->target, sizeof call->target);
      break;
    case STAT_MOUNT:
      ok = string_argument(env, argv, argc, 0, call->target, sizeof call->target) &&
           string_argument(env, argv, argc, 1, call->source, sizeof call->source);
      break;
    case TMPFS:
      ok = string_argument(env, argv, argc, 0, call->target, sizeof call->target) &&
           string_argument(env, argv, argc, 1, call->options, sizeof call->options);
      break;
    case UNMOUNT:
      ok = string_argument(env, argv, argc, 0, call->target, sizeof call->target);
      break;
  }
  if (!ok) {
    free(call);
    return NULL;
  }
  napi_value promise, name;
  if (napi_create_promise(env, &call->deferred, &promise) != napi_ok) {
    free(call);
    napi_throw_error(env, NULL, "could not create a promise");
    return NULL;
  }
  if (napi_create_string_utf8(env, "mount", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, call, &call->work) != napi_ok) {
    call->error = ENOMEM;
    call->syscall = "queue";
    complete(env, napi_ok, call); /* rejects the promise and frees the call */
    return promise;
  }
  if (napi_queue_async_work(env, call->work) != napi_ok) {
    call->error = EAGAIN;
    call->syscall = "queue";
    complete(env, napi_ok, call);
  }
  return promise;
}

static napi_value bind_read_only(napi_env env, napi_callback_info info) {
  return start(env, info, BIND_READ_ONLY);
}
static napi_value bind_writable(napi_env env, napi_callback_info info) {
  return start(env, info, BIND_WRITABLE);
}
static napi_value mount_tmpfs(napi_env env, napi_callback_info info) { return start(env, info, TMPFS); }
static napi_value unmount(napi_env env, napi_callback_info info) { return start(env, info, UNMOUNT); }
static napi_value stat_mount_call(napi_env env, napi_callback_info info) { return start(env, info, STAT_MOUNT); }

/*
 * statMount answered in place: two or three statx calls on paths the kernel has cached
 * take a few µs, less than the threadpool's round trip costs in CPU. Returns the answer
 * (a number); throws a TypeError only for arguments that are not strings that fit.
 */
static napi_value stat_mount_sync(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char target[MAX_PATH];
  char source[MAX_PATH];
  if (!string_argument(env, argv, argc, 0, target, sizeof target) ||
      !string_argument(env, argv, argc, 1, source, sizeof source))
    return NULL;
  napi_value value;
  napi_create_int32(env, stat_mount(target, source), &value);
  return value;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"bindReadOnly", NULL, bind_read_only, NULL, NULL, NULL, napi_default, NULL},
      {"bindWritable", NULL, bind_writable, NULL, NULL, NULL, napi_default, NULL},
      {"mountTmpfs", NULL, mount_tmpfs, NULL, NULL, NULL, napi_default, NULL},
      {"unmount", NULL, unmount, NULL, NULL, NULL, napi_default, NULL},
      {"statMount", NULL, stat_mount_call, NULL, NULL, NULL, napi_default, NULL},
      {"statMountSync", NULL, stat_mount_sync, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

# The native helpers: mount(2) (native/mount.c) and malloc_trim(3) (native/memory.c). `npm run native`
# builds them against the headers of the Node that runs npm's scripts (the Node 24 in node_modules),
# so node-gyp downloads nothing.
{
  "targets": [
    {
      "target_name": "mount",
      "sources": ["native/mount.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "memory",
      "sources": ["native/memory.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
